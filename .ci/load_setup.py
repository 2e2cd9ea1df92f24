"""Setup of .ci/load: a consent-based form and COUNT subjects who consented, through the API,
then the plan (PLAN, JSON) that gdpr-load drives the mixed workload from, for SECONDS over
CONNECTIONS connections.

Usage: python3 .ci/load_setup.py BASE_URL API_KEY COUNT PLAN SECONDS CONNECTIONS
"""
import json, sys, urllib.request

base, key, count, script = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
seconds, connections = int(sys.argv[5]), int(sys.argv[6])

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

# The plan gdpr-load drives (crates/gdpr-testkit/src/bin/gdpr-load.rs): every subject gets
# every kind of request in turn, two look-ups by e-mail, a record submission, a consent check.
plan = {
    "base": base,
    "token": key,
    "seconds": seconds,
    "connections": connections,
    "timeout_seconds": 10,
    "vars": {"form": form},
    "items": [{"subject": s, "email": e} for s, e in zip(subjects, emails)],
    "cycle": [
        {"method": "POST", "path": "/v1/subjects/lookup", "body": '{"email":"{email}"}'},
        {"method": "POST", "path": "/v1/subjects/lookup", "body": '{"email":"{email}"}'},
        {"method": "POST", "path": "/v1/records",
         "body": '{"form":"{form}","subject":"{subject}","values":{"email":"{email}","visits":{n}}}'},
        {"method": "GET", "path": "/v1/subjects/{subject}/consent-check?purpose=newsletter"},
    ],
}
with open(script, "w") as f:
    json.dump(plan, f)
