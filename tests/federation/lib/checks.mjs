// A tiny check runner: each check is a named async function that throws to fail and may return
// a one-line detail. Results print as they finish and again in the summary.

export class Checks {
  results = [];

  /** Runs `fn`; resolves to its return value, or `undefined` when it failed. */
  async run(name, fn) {
    const started = performance.now();
    try {
      const value = await fn();
      const detail = typeof value === 'string' ? value : value?.detail;
      this.#record({ name, status: 'PASS', detail, ms: performance.now() - started });
      return value;
    } catch (err) {
      this.#record({ name, status: 'FAIL', detail: err?.stack ?? String(err), ms: performance.now() - started });
      return undefined;
    }
  }

  /** Records a check that could not run because something it needs failed. */
  skip(name, why) {
    this.#record({ name, status: 'SKIP', detail: why, ms: 0 });
  }

  get ok() {
    return this.results.length > 0 && this.results.every((r) => r.status === 'PASS');
  }

  summary() {
    const count = (status) => this.results.filter((r) => r.status === status).length;
    const lines = this.results.map((r) => `  ${r.status}  ${r.name}${r.status === 'PASS' && r.detail ? ` — ${r.detail}` : ''}`);
    return [
      '',
      `Summary: ${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped`,
      ...lines,
    ].join('\n');
  }

  #record(result) {
    this.results.push(result);
    const time = `${(result.ms / 1000).toFixed(1)} s`;
    const head = `${result.status}  ${result.name} (${time})`;
    if (result.status === 'PASS') console.log(result.detail ? `${head} — ${result.detail}` : head);
    else console.log(`${head}\n${indent(result.detail)}`);
  }
}

function indent(text) {
  return String(text).split('\n').map((line) => `      ${line}`).join('\n');
}
