-- Which run saved each event, and when the workflow asked for that save (Temporal's clock). After
-- `temporal workflow reset`, the new run saves its own events at the places the reset undid: a save that
-- finds an event saved by another run asked earlier replaces it, and a save asked before another run's is
-- a reset-away run's late one and is dropped (activities/store.py). Rows saved before this have neither.
ALTER TABLE case_events ADD COLUMN run_id text, ADD COLUMN asked_at timestamptz;
