"""The official Python client, pysnc, exporting incidents with Basic auth.

Prints one JSON line with rows, seconds, the peak resident memory (kB) and the timeline (seconds
since the start and rows read by then, after every batch).
"""
import json
import resource
import sys
import time

import pysnc.client
from pysnc import ServiceNowClient

base, user, password, page_size, rows = sys.argv[1:6]
# pysnc refuses http:// instance URLs; the emulator listens on loopback http, so the check is
# bypassed here (nothing else of pysnc is changed).
pysnc.client.get_instance = lambda instance: instance.rstrip("/")
client = ServiceNowClient(base, (user, password))
started = time.perf_counter()
record = client.GlideRecord("incident", batch_size=int(page_size))
record.limit = int(rows)
record.order_by("sys_id")
record.query()
count = 0
batch = int(page_size)
timeline = []
for _ in record:
    count += 1
    if count % batch == 0:
        timeline.append((time.perf_counter() - started, count))
seconds = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": count, "seconds": seconds, "peak_rss_kb": peak_kb, "timeline": timeline}))
