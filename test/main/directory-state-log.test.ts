/** serve's log of the directory's breaker: a configuration error once, as an error; outages as warnings each time. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CONFIGURATION_ERROR } from '../../src/directory/graph.ts';
import { directoryStateLog } from '../../src/main.ts';

type Line = [level: string, message: string];

function recorder(): { lines: Line[]; log: () => any } {
  const lines: Line[] = [];
  const level = (name: string) => (_fields: unknown, message: string) => void lines.push([name, message]);
  return { lines, log: () => ({ info: level('info'), warn: level('warn'), error: level('error') }) };
}

const Log = suite('serve :: directory state log');
const REFUSED = `authentication to Microsoft Entra ID failed: invalid_client: AADSTS7000215; ${CONFIGURATION_ERROR}: check the client secret`;

Log('a refused identity :: one error line however often the probe meets it; again after a recovery', () => {
  const { lines, log } = recorder();
  const onChange = directoryStateLog(log);
  onChange('open', `${REFUSED}; Microsoft Graph is not called again for 1s`, REFUSED);
  onChange('half-open', 'probing Microsoft Graph', 'probing Microsoft Graph');
  onChange('open', `${REFUSED}; Microsoft Graph is not called again for 1s`, REFUSED);
  onChange('open', `${REFUSED}; Microsoft Graph is not called again for 1s`, REFUSED);
  assert.equal(lines.filter(([level]) => level === 'error').length, 1);
  assert.match(lines.find(([level]) => level === 'error')![1], /^the directory cannot sign in: .*check the client secret/);
  onChange('closed', 'Microsoft Graph answered again', 'Microsoft Graph answered again');
  onChange('open', `${REFUSED}; Microsoft Graph is not called again for 1s`, REFUSED);
  assert.equal(lines.filter(([level]) => level === 'error').length, 2);
});

Log('a refused identity, the backoff growing between probes :: still one error line', () => {
  const { lines, log } = recorder();
  const onChange = directoryStateLog(log);
  for (const seconds of [1, 2, 3, 7, 15, 31, 60]) onChange('open', `${REFUSED}; Microsoft Graph is not called again for ${seconds}s`, REFUSED);
  assert.equal(lines.filter(([level]) => level === 'error').length, 1);
});

Log('an outage :: a warning at each opening, info when Graph answers again', () => {
  const { lines, log } = recorder();
  const onChange = directoryStateLog(log);
  onChange('open', 'Microsoft Graph answered HTTP 503; Microsoft Graph is not called again for 1s', 'Microsoft Graph answered HTTP 503');
  onChange('closed', 'Microsoft Graph answered again', 'Microsoft Graph answered again');
  assert.equal(lines.map(([level]) => level), ['warn', 'info']);
});

Log.run();
