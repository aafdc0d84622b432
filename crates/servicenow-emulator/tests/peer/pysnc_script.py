"""What an integrator does with ServiceNow's own Python client (PySNC, pinned by the Rust test
`peer_pysnc.rs`), run against the emulator: page through a table, query, create/read/update/
delete, attach a file and read it back, update and delete in a batch. PySNC has no Aggregate API,
so the Aggregate calls are plain `requests` shaped like the documented samples.

Usage: python pysnc_script.py '<json: instance, ca_file, user, password, expected>'
Prints one line per story; any failed check raises, which exits non-zero.
"""

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pysnc
import requests

config = json.loads(sys.argv[1])
instance = config["instance"]
auth = (config["user"], config["password"])
expected = config["expected"]
client = pysnc.ServiceNowClient(instance, auth, verify=config["ca_file"])


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def story(text):
    print(f"pysnc: {text}", flush=True)


# 1. Paging: every row of a table, a few per request, each exactly once.
groups = client.GlideRecord("sys_user_group", batch_size=7)
groups.query()
seen = [record.sys_id for record in groups]
check(len(seen) == expected["sys_user_group"], f"paged {len(seen)} groups, expected {expected['sys_user_group']}")
check(len(set(seen)) == len(seen), "a group came twice while paging")
check(len(groups) == len(seen), "X-Total-Count disagrees with the rows paged")
story(f"paged all {len(seen)} rows of sys_user_group, 7 per request")

# 2. A query: the well-known admin user of a developer instance, and an encoded query.
admin = client.GlideRecord("sys_user")
check(admin.get("user_name", "admin"), "the admin user was not found")
check(admin.sys_id == "6816f79cc0a8016401c5a33be04be441", f"admin has sys_id {admin.sys_id}")
urgent = client.GlideRecord("incident", batch_size=50)
urgent.add_query("priority", "1")
urgent.add_active_query()
urgent.query()
matched = 0
for record in urgent:
    check(record.priority == "1" and record.active == "true", f"{record.number} does not match the query")
    matched += 1
check(matched == expected["active_priority_1"], f"the query matched {matched}, expected {expected['active_priority_1']}")
story(f"found admin under its published sys_id and {matched} active priority-1 incidents")

# 3. Create, read, update, delete.
incident = client.GlideRecord("incident")
incident.initialize()
incident.short_description = "Printer on fire (pysnc)"
incident.urgency = "2"
sys_id = incident.insert()
check(sys_id, "insert returned no sys_id")
read = client.GlideRecord("incident")
check(read.get(sys_id), "the new incident cannot be read back")
check(read.short_description == "Printer on fire (pysnc)", "the read differs from what was written")
read.short_description = "Printer no longer on fire (pysnc)"
check(read.update(), "update failed")
again = client.GlideRecord("incident")
check(again.get(sys_id) and again.short_description == "Printer no longer on fire (pysnc)", "the update did not stick")
check(again.delete(), "delete failed")
check(not client.GlideRecord("incident").get(sys_id), "the deleted incident can still be read")
story(f"created, read, updated and deleted incident {sys_id}")

# 4. Attachments up and down.
target = client.GlideRecord("incident")
target.initialize()
target.short_description = "Has a log attached (pysnc)"
target_id = target.insert()
content = bytes(range(256)) * 1200 + b"end of log\n"
attachments = client.Attachment("incident")
location = attachments.add_attachment(target_id, "trace.log", content, "text/plain")
check(location.startswith(f"{instance}/api/now/v1/attachment/") and location.endswith("/file"), f"Location is {location}")
listed = client.Attachment("incident")
listed.add_query("table_sys_id", target_id)
listed.query()
check(listed.next(), "the uploaded attachment is not listed")
check(len(listed) == 1, f"{len(listed)} attachments listed")
check(listed.file_name == "trace.log", f"file_name is {listed.file_name}")
check(listed.size_bytes == str(len(content)), f"size_bytes is {listed.size_bytes}")
check(listed.hash == hashlib.sha256(content).hexdigest(), "hash is not the content's SHA-256")
check(listed.get_link() == location, "get_link() differs from Location")
check(listed.read() == content, "the download differs from the upload")
with tempfile.TemporaryDirectory() as directory:
    written = listed.write_to(directory)
    check(Path(written).read_bytes() == content, "write_to() wrote other bytes")
check(listed.as_temp_file().read() == content, "as_temp_file() holds other bytes")
attachment_id = listed.sys_id
listed.delete()
check(not client.Attachment("incident").get(attachment_id), "the deleted attachment is still there")
check(target.delete(), "the incident that held the attachment was not deleted")
story(f"uploaded, listed, downloaded three ways and deleted a {len(content)}-byte attachment")

# 5. Updates and deletes in a batch (PySNC sends them through /api/now/v1/batch).
tag = "pysnc batch story"
created = []
for index in range(12):
    record = client.GlideRecord("incident")
    record.initialize()
    record.short_description = f"{tag} {index}"
    created.append(record.insert())
batch = client.GlideRecord("incident", batch_size=5)
batch.add_query("short_description", "STARTSWITH", tag)
batch.query()
for record in batch:
    record.urgency = "3"
check(batch.update_multiple(), "update_multiple reported a failure")
check_updated = client.GlideRecord("incident")
check_updated.add_query("short_description", "STARTSWITH", tag)
check_updated.add_query("urgency", "3")
check_updated.query()
check(len(check_updated) == 12, f"{len(check_updated)} of 12 updated")
doomed = client.GlideRecord("incident")
doomed.add_query("short_description", "STARTSWITH", tag)
check(doomed.delete_multiple(), "delete_multiple reported a failure")
left = client.GlideRecord("incident")
left.add_query("short_description", "STARTSWITH", tag)
left.query()
check(len(left) == 0, f"{len(left)} of 12 survived delete_multiple")
story("updated 12 incidents with update_multiple and deleted them with delete_multiple")

# 6. The Aggregate API with plain requests, as in the documented samples.
session = requests.Session()
session.auth = auth
session.verify = config["ca_file"]
session.headers["Accept"] = "application/json"
answer = session.get(f"{instance}/api/now/stats/incident", params={"sysparm_count": "true"})
check(answer.status_code == 200, f"stats answered {answer.status_code}: {answer.text}")
total = answer.json()["result"]["stats"]["count"]
check(total == str(expected["incident"]), f"count is {total!r}, expected {expected['incident']}")
answer = session.get(
    f"{instance}/api/now/stats/incident",
    params={"sysparm_count": "true", "sysparm_group_by": "priority", "sysparm_avg_fields": "urgency",
            "sysparm_query": "active=true"},
)
check(answer.status_code == 200, f"grouped stats answered {answer.status_code}: {answer.text}")
grouped = answer.json()["result"]
by_priority = {group["groupby_fields"][0]["value"]: int(group["stats"]["count"]) for group in grouped}
check(by_priority.get("1", 0) == expected["active_priority_1"], f"priority 1 has {by_priority.get('1')}")
check(sum(by_priority.values()) == expected["active"], f"groups sum to {sum(by_priority.values())}")
check(all("avg" in group["stats"] and "urgency" in group["stats"]["avg"] for group in grouped), "avg missing")
story(f"counted {total} incidents and {len(grouped)} priority groups of active ones with the Aggregate API")
print("pysnc: every story passed")
