/**
 * Tests start services the way the daemon does (src/daemon.ts): start, then hand the service's
 * operator views to a control registry the test can query.
 */
import type { Listening, Service, ServiceContext } from '../../src/contracts/service';
import type { ControlRegistry } from '../../src/control/registry';

/** A service context plus the registry the test reads views from. */
export type TestContext = ServiceContext & { control: ControlRegistry };

export async function serve(service: Service, control: ControlRegistry): Promise<Listening[]> {
  const listening = await service.start();
  if (service.operatorViews) control.addAll(service.operatorViews());
  return listening;
}
