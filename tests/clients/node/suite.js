// The query suite of tests/clients_suite.py, run with node-postgres (npm `pg`).
// Run by tests/test_clients_cli.py:
//   PGHOST=... PGPASSWORD=<IAM token> SUITE_CA=ca.pem SUITE_TABLE=t node suite.js
// Prints what each step saw as one JSON object on stdout; with SUITE_HOLD set, then keeps
// the session open (idle) until its stdin closes, for the test to look at the proxy.
'use strict';

const fs = require('fs');
const { Client } = require('pg');

async function main() {
  const client = new Client({
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER,
    database: process.env.PGDATABASE,
    password: process.env.PGPASSWORD,
    // verify-full: the sandbox CA only, and node checks the proxy's address against the
    // certificate's IP SANs (checkServerIdentity)
    ssl: { ca: fs.readFileSync(process.env.SUITE_CA), rejectUnauthorized: true },
    connectionTimeoutMillis: 10000,
  });
  const table = process.env.SUITE_TABLE;
  const one = async (config, values) => (await client.query(config, values)).rows[0].v;
  const out = {};
  await client.connect();
  try {
    out.tls = client.connection.stream.encrypted === true;
    out.user = await one('SELECT current_user AS v');
    out.simple = await one('SELECT 1 + 1 AS v'); // no values: simple query protocol
    out.params = await one('SELECT $1::int + $2::int AS v', [40, 2]); // extended protocol
    await client.query(`CREATE TABLE ${table} (id int, note text)`);
    await client.query('BEGIN');
    for (const i of [1, 2, 3]) {
      await client.query(`INSERT INTO ${table} VALUES ($1, 'n')`, [i]);
    }
    out.in_transaction = Number(await one(`SELECT count(*) AS v FROM ${table}`));
    await client.query('ROLLBACK');
    out.after_rollback = Number(await one(`SELECT count(*) AS v FROM ${table}`));
    const rows = (await client.query(process.env.SUITE_ROWS_SQL)).rows;
    out.rows = rows.length;
    out.rows_sum = rows.reduce((sum, r) => sum + r.g, 0);
    try {
      await client.query('SELECT 1/0');
    } catch (err) {
      out.error = err.code;
    }
    out.recovered = await one("SELECT 'recovered' AS v");
    await client.query('BEGIN');
    try {
      await client.query('SELECT 1/0');
    } catch (err) {
      out.txn_error = err.code;
    }
    await client.query('ROLLBACK');
    out.txn_recovered = await one("SELECT 'recovered' AS v");
    out.prepared = [];
    for (const n of [1, 2, 3]) { // a named statement: Parse once, then Bind/Execute
      out.prepared.push(await one({ name: 'suite-double', text: 'SELECT $1::int * 2 AS v',
        values: [n] }));
    }
    await client.query(`DROP TABLE ${table}`);
    process.stdout.write(JSON.stringify(out) + '\n');
    if (process.env.SUITE_HOLD) { // keep the session open, idle, until stdin closes
      await new Promise((resolve) => { process.stdin.on('end', resolve); process.stdin.resume(); });
    }
  } finally {
    await client.end();
  }
}

main().catch((err) => {
  process.stderr.write(`suite.js: ${err.stack || err}\n`);
  process.exit(1);
});
