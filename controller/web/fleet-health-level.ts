import type { FleetHostRow } from './fleet-api.js';

/**
 * A host's health as the page colours it: critical when a unit the refreshed facts report is not
 * active, or the last health run found something critical or could not ask the host; else the last
 * run's worst; ok when only the unit states are known and all are active; none when nothing is.
 * Shared by the controller's summary counts and the page (no server imports here).
 */
export function healthLevel(
  row: Pick<FleetHostRow, 'services' | 'health'>,
): 'ok' | 'warning' | 'critical' | 'none' {
  const inactive = row.services ? Object.values(row.services).some((state) => state !== 'active') : false;
  if (inactive || row.health?.worst === 'critical' || row.health?.error) return 'critical';
  if (row.health) return row.health.worst;
  return row.services ? 'ok' : 'none';
}
