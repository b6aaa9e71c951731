import { describe, expect, it } from 'vitest';
import { agentControllerUrls, parseAgentConfig } from './config.js';

const PIN = `sha256:${'ab'.repeat(32)}`;
const yaml = (lines: string): string => `caPin: ${PIN}\n${lines}\n`;

describe('agent.yaml controller URLs', () => {
  it.each([
    ['one URL in the older single field', 'controller: https://10.0.0.1:7443', ['https://10.0.0.1:7443']],
    [
      'a list of replicas, in order',
      'controllers: [https://10.0.0.1:7443, https://10.0.0.2:7443/, https://c3.example:7443]',
      ['https://10.0.0.1:7443', 'https://10.0.0.2:7443', 'https://c3.example:7443'],
    ],
    [
      'both fields, the single one first and a repeated URL once',
      'controller: https://10.0.0.2:7443\ncontrollers: [https://10.0.0.1:7443, https://10.0.0.2:7443/]',
      ['https://10.0.0.2:7443', 'https://10.0.0.1:7443'],
    ],
  ])('accepts %s', (_name, lines, urls) => {
    expect(agentControllerUrls(parseAgentConfig(yaml(lines), 'agent.yaml'))).toEqual(urls);
  });

  it.each([
    [
      'an http URL in the list, naming its index',
      'controllers: [https://10.0.0.1:7443, http://10.0.0.2:7443]',
      'agent.yaml: controllers.1: must be an https:// URL, not "http://10.0.0.2:7443"',
    ],
    [
      'a list entry that is no URL',
      'controllers: [https://10.0.0.1:7443, https://10.0.0.2:7443, 10.0.0.3]',
      'agent.yaml: controllers.2: must be an https:// URL, not "10.0.0.3"',
    ],
    [
      'a number in the list',
      'controllers: [7443]',
      'agent.yaml: controllers.0: must be an https:// URL, not 7443',
    ],
    [
      'the same replica twice',
      'controllers: [https://c1.example:7443, https://C1.example:7443/]',
      'agent.yaml: controllers.1: https://C1.example:7443/ is the same controller as controllers.0',
    ],
    ['an empty list', 'controllers: []', 'agent.yaml: controllers: Too small'],
    [
      'no controller at all',
      'labels: {}',
      'agent.yaml: controllers: controllers (a list of https:// URLs) or controller (one URL) is required',
    ],
    [
      'an http URL in the single field',
      'controller: http://10.0.0.1:7443',
      'agent.yaml: controller: must be an https:// URL, not "http://10.0.0.1:7443"',
    ],
    [
      'a list of 17',
      `controllers: [${Array.from({ length: 17 }, (_, i) => `https://c${i}:1`).join(', ')}]`,
      'controllers: Too big',
    ],
  ])('refuses %s with an error naming the field', (_name, lines, message) => {
    expect(() => parseAgentConfig(yaml(lines), 'agent.yaml')).toThrow(message);
  });

  it('refuses a list given as one comma-separated string', () => {
    expect(() =>
      parseAgentConfig(yaml('controllers: "https://10.0.0.1:7443,https://10.0.0.2:7443"'), 'agent.yaml'),
    ).toThrow(/^agent\.yaml: controllers: /);
  });
});
