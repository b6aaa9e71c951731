import { KctlError } from '../proto/errors.js';
import { hasControlCharacters, quoteInput } from '../proto/validators.js';

/**
 * The request target (`/path?query`) as a URL, or a 400 naming it. Node's HTTP parser passes
 * targets such as `//`, `//[` or `http://x/` through; resolving them against a base URL either
 * throws ("Invalid URL") or takes the first segment for a host, so the target is appended to a
 * fixed origin instead and must start with a single path.
 */
export function parseRequestTarget(raw: string | undefined): URL {
  const target = raw ?? '/';
  if (!target.startsWith('/')) {
    throw new KctlError(
      'invalid_args',
      `Request target ${quoteInput(target)} must be a path starting with "/"`,
    );
  }
  try {
    return new URL(`https://controller${target}`);
  } catch {
    throw new KctlError('invalid_args', `Request target ${quoteInput(target)} is not a valid path`);
  }
}

/** `parseRequestTarget`, or undefined where the caller answers the refusal itself (upgrade handlers). */
export function requestTargetOrUndefined(raw: string | undefined): URL | undefined {
  try {
    return parseRequestTarget(raw);
  } catch {
    return undefined;
  }
}

/**
 * One percent-encoded path segment, decoded, or a 400 naming the segment and the parameter: bad
 * percent-encoding (`%E0%A4%A`) and control characters (`%0A`) are the client's mistake.
 */
export function decodePathSegment(raw: string, param: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new KctlError(
      'invalid_args',
      `Path segment ${quoteInput(raw)} (:${param}) is not valid percent-encoding`,
      {
        details: { param },
      },
    );
  }
  if (hasControlCharacters(decoded)) {
    throw new KctlError(
      'invalid_args',
      `Path segment ${quoteInput(raw)} (:${param}) contains control characters`,
      {
        details: { param },
      },
    );
  }
  return decoded;
}

/**
 * An integer query parameter within [min, max]; `fallback` when absent. Anything else (`abc`,
 * `1e3`, `-1`, `10.5`, an empty or repeated parameter) is a 400 naming the parameter and the value.
 */
export function queryInteger(
  url: URL,
  name: string,
  range: { min: number; max: number; fallback: number },
): number {
  const values = url.searchParams.getAll(name);
  if (values.length === 0) return range.fallback;
  const text = values[0] ?? '';
  const value = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (values.length > 1 || !(value >= range.min && value <= range.max)) {
    throw new KctlError(
      'invalid_args',
      `Query parameter "${name}" must be one integer from ${range.min} to ${range.max}, not ${quoteInput(values.join('&'))}`,
      { details: { param: name } },
    );
  }
  return value;
}
