"""Ops commands: histories (replay, export, rebuild), doctor, data protection, the codec server, certificates."""
