import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseInventory } from '../../../src/config/inventory';
import type { Inventory } from '../../../src/config/types';
import { buildScope } from '../../../src/config/vars';
import { templateModule } from '../../../src/modules/template';
import { redact } from '../../../src/secrets';
import { renderTemplateFile } from '../../../src/templates/render';

const absent = null;

describe('template plan', () => {
  it('a new file is 0644 by default, and 0600 when what it holds came from env.*', () => {
    process.env.PGPLAY_TEMPLATE_TEST_PW = 'tmpl-env-pw-66b1';
    const dir = mkdtempSync(join(tmpdir(), 'pgplay-template-'));
    writeFileSync(join(dir, 'conninfo.conf.hbs'), "primary_conninfo = 'host=pg1 password={{ env.PGPLAY_TEMPLATE_TEST_PW }}'\n");
    writeFileSync(join(dir, 'plain.conf.hbs'), "port = {{ port }}\n");
    const inventory = parseInventory('inv.yml', 'all:\n  hosts:\n    pg1: {port: 5432}\n').value as Inventory;
    const scope = buildScope({ inventory, hostName: 'pg1' });
    const plain = templateModule.plan({ src: 'plain.conf.hbs', dest: '/etc/x/plain.conf' }, { rendered: renderTemplateFile(join(dir, 'plain.conf.hbs'), scope), current: absent });
    assert.deepEqual(plain.kind === 'change' && plain.steps.map((s) => s.description), ['write /etc/x/plain.conf (mode 0644)']);
    const rendered = renderTemplateFile(join(dir, 'conninfo.conf.hbs'), scope);
    // Read through the Handlebars runtime, the value is now known as a secret.
    assert.equal(redact(rendered), "primary_conninfo = 'host=pg1 password=********'\n");
    const secret = templateModule.plan({ src: 'conninfo.conf.hbs', dest: '/etc/x/conninfo.conf' }, { rendered, current: absent });
    assert.deepEqual(secret.kind === 'change' && secret.steps.map((s) => s.description), ['write /etc/x/conninfo.conf (mode 0600)']);
    assert.equal(secret.kind === 'change' && secret.warnings, undefined);
    const asked = templateModule.plan({ src: 'conninfo.conf.hbs', dest: '/etc/x/conninfo.conf', mode: '0640' }, { rendered, current: absent });
    assert.deepEqual(asked.kind === 'change' && [asked.steps[0].description, asked.warnings], ['write /etc/x/conninfo.conf (mode 0640)', ["/etc/x/conninfo.conf holds a secret but its mode 0640 lets others read it: set mode: '0600'"]]);
    const existing = templateModule.plan({ src: 'conninfo.conf.hbs', dest: '/etc/x/conninfo.conf' }, { rendered, current: { type: 'file', content: Buffer.from('old\n'), owner: 'postgres', group: 'postgres', mode: '0644', uid: 101, gid: 104, size: 4, mtimeMs: 0, identity: '1:2' } });
    assert.deepEqual(existing.kind === 'change' && existing.steps.map((s) => s.description), ['write /etc/x/conninfo.conf (mode 0644)'], 'an existing file keeps its mode');
    assert.equal(existing.kind === 'change' && existing.warnings?.length, 1);
  });
});
