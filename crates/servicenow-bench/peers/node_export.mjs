// A Node.js export in the plain style common in JavaScript integrations: a bearer token,
// `fetch` of each page, `await response.json()`. Prints one JSON line with rows and seconds.
const [base, token, pageSize, rows] = process.argv.slice(2);
const limit = Number(pageSize);
const wanted = Number(rows);
const started = process.hrtime.bigint();
let count = 0;
for (let offset = 0; offset < wanted; offset += limit) {
  const url = `${base}/api/now/table/incident?sysparm_limit=${limit}&sysparm_offset=${offset}&sysparm_query=ORDERBYsys_id`;
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  const page = await response.json();
  for (const record of page.result) {
    if (record.sys_id) count += 1;
  }
  if (page.result.length === 0) break;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ rows: count, seconds }));
