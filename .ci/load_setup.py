"""Setup of .ci/load: a consent-based form and COUNT subjects who consented, through the API,
then the wrk script (SCRIPT) that drives the mixed workload over them.

Usage: python3 .ci/load_setup.py BASE_URL API_KEY COUNT SCRIPT
"""
import json, sys, urllib.request

base, key, count, script = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def post(path, body, method="POST"):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)

post("/v1/purposes", {"id": "newsletter", "description": "Sending the newsletter", "lawful_basis": "consent"})
consent_form = post("/v1/consent-forms", {"purpose": "newsletter", "title": "Newsletter", "text": "I agree."})["id"]
form = post("/v1/forms", {"name": "Sign-up", "purpose": "newsletter", "fields": [
    {"name": "email", "kind": "email", "category": "email", "required": True},
    {"name": "visits", "kind": "number", "category": "not_personal"},
]})["id"]
post(f"/v1/forms/{form}/consent-form", {"consent_form": consent_form}, method="PUT")
subjects, emails = [], []
for n in range(count):
    email = f"load-{n}@example.org"
    subject = post("/v1/subjects", {"email": email, "full_name": "Load Tester", "ip_address": "192.0.2.7"})["id"]
    post(f"/v1/subjects/{subject}/consents", {"consent_form": consent_form, "method": "api"})
    subjects.append(subject)
    emails.append(email)

lua = """
local subjects = {%s}
local emails = {%s}
local form = "%s"
local n = 0
local headers = {["Authorization"] = "Bearer %s", ["Content-Type"] = "application/json"}

request = function()
  n = n + 1
  -- Every subject gets every kind of request in turn.
  local kind = n %% 4
  local i = (math.floor(n / 4) %% #subjects) + 1
  if kind < 2 then
    return wrk.format("POST", "/v1/subjects/lookup", headers, '{"email":"' .. emails[i] .. '"}')
  elseif kind == 2 then
    return wrk.format("POST", "/v1/records", headers,
      '{"form":"' .. form .. '","subject":"' .. subjects[i] .. '","values":{"email":"' .. emails[i] .. '","visits":' .. n .. '}}')
  else
    return wrk.format("GET", "/v1/subjects/" .. subjects[i] .. "/consent-check?purpose=newsletter", headers)
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOAD requests=%%d seconds=%%.3f connect=%%d read=%%d write=%%d status=%%d timeout=%%d p50_ms=%%.2f p90_ms=%%.2f p99_ms=%%.2f max_ms=%%.2f\\n",
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
""" % (
    ", ".join(f'"{s}"' for s in subjects),
    ", ".join(f'"{e}"' for e in emails),
    form,
    key,
)
with open(script, "w") as f:
    f.write(lua)
