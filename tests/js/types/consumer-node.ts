// Node-only parts (moduleResolution nodenext): the simulator subpath, whose exports name only the
// `node` condition.
import { startSimulator, type Simulator } from 'ibkr-auth/sim';
import { IbkrSession } from 'ibkr-auth';

export async function againstTheSimulator(): Promise<unknown> {
  const sim: Simulator = await startSimulator({ rateLimits: false });
  const session = IbkrSession.oauth1(sim.clientConfig());
  const accounts = await session.request('GET', '/iserver/accounts');
  await sim.close();
  // @ts-expect-error: count takes a kind name
  sim.count(1);
  return accounts;
}
