// Progressive enhancement: the threshold recommendation updates as the needs are chosen.
// Without JavaScript, the "Check the threshold" button does the same on the server.
const form = document.getElementById("referral");
const output = document.getElementById("recommendation");
const names = { accept: "accept", signpost: "signpost", step_up: "step up" };
form.addEventListener("change", async () => {
  const body = new FormData(form);
  const response = await fetch("/refer/threshold", {
    method: "POST", body, headers: { "X-CSRF-Token": body.get("csrf") }, credentials: "same-origin",
  });
  if (response.ok) {
    const { recommendation } = await response.json();
    output.innerHTML = "";
    const strong = document.createElement("strong");
    strong.textContent = names[recommendation] || recommendation;
    output.appendChild(strong);
  }
});
