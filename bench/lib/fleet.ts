// The benchmark fleet: 12 services, each with its own role, one shared RDS master secret consumed by 6 of them,
// grown in place (500 → 2,000 → 10,000 hosts) so seeding is paid once. 1 host in 4 has IMDS drift.
import { ModifyInstanceMetadataOptionsCommand } from "@aws-sdk/client-ec2";
import { type AwsClients, createClients } from "#core/adapters/clients";
import { mapLimit } from "#core/app/concurrency";
import type { ImdsOptions } from "#core/domain/model";
import { type FleetSpec, launchHosts, roleNameFor, type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";

export const BENCH_SERVICES = [
  "database",
  "api",
  "web",
  "voice",
  "media",
  "telpro",
  "ops",
  "billing",
  "search",
  "notify",
  "auth",
  "reports",
] as const;
/** Consumers of the shared RDS master secret (the rotation the benchmark dispatches). */
export const SHARED_CONSUMERS = ["database", "api", "web", "voice", "billing", "auth"];
const CONCURRENCY = 16;
const ZONES = ["a", "b", "c"];

type Imds = Omit<ImdsOptions, "state">;
const COMPLIANT: Imds = { httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" };
/** The drift kinds, cycled over drifted hosts: IMDSv1 allowed, hop limit 1, both. */
const DRIFTS: Imds[] = [
  { httpTokens: "optional", hopLimit: 2, httpEndpoint: "enabled" },
  { httpTokens: "required", hopLimit: 1, httpEndpoint: "enabled" },
  { httpTokens: "optional", hopLimit: 1, httpEndpoint: "enabled" },
];

export function benchFleetSpec(namespace: string): FleetSpec {
  return {
    namespace,
    sharedSecret: { consumers: SHARED_CONSUMERS },
    // Hosts are added by growFleet: the roles, profiles, secrets, parameters, manifest and document come from here.
    services: BENCH_SERVICES.map((name, i) => ({ name, wave: i % 4, hosts: 0 })),
  };
}

export interface BenchFleet {
  fleet: SeededFleet;
  /** Every host id, in launch order. */
  hostIds: string[];
  /** Host id → the drift it was launched with (1 in 4). */
  drifted: Map<string, Imds>;
  /** Host id → service. */
  serviceOf: Map<string, string>;
}

export async function seedBenchFleet(namespace: string, clients: AwsClients = createClients()): Promise<BenchFleet> {
  const fleet = await seedFleet(benchFleetSpec(namespace), clients);
  return { fleet, hostIds: [], drifted: new Map(), serviceOf: new Map() };
}

/** Launches hosts until the fleet has `total`; host i runs service i mod 12 and drifts when i mod 4 = 3. */
export async function growFleet(
  bf: BenchFleet,
  total: number,
  clients: AwsClients = createClients(),
  onProgress?: (done: number) => void,
): Promise<void> {
  const { fleet } = bf;
  const start = bf.hostIds.length;
  const launches = Array.from({ length: Math.max(0, total - start) }, (_, k) => {
    const i = start + k;
    const service = BENCH_SERVICES[i % BENCH_SERVICES.length]!;
    const drift = i % 4 === 3 ? DRIFTS[Math.floor(i / 4) % DRIFTS.length]! : undefined;
    return {
      service,
      drift,
      imds: drift ?? COMPLIANT,
      tags: { [fleet.manifest.tags.namespace]: fleet.namespace, [fleet.manifest.tags.service]: service },
      // seedFleet names each instance profile after its role.
      profileArn: `arn:aws:iam::${fleet.account}:instance-profile/${roleNameFor(fleet.namespace, service)}`,
      // Spread over three AZs: moto puts every launch without a placement in "<region>a", whose default /20
      // subnet runs out of addresses at 4,091 hosts (and real fleets span AZs anyway).
      availabilityZone: `${fleet.region}${ZONES[i % ZONES.length]}`,
    };
  });
  const launched = await launchHosts(clients.ec2, launches, {
    concurrency: CONCURRENCY,
    onLaunched: (done) => {
      if (done % 500 === 0) onProgress?.(start + done);
    },
  });
  for (const { launch: l, instance } of launched) {
    const id = instance.InstanceId ?? "";
    bf.hostIds.push(id);
    bf.serviceOf.set(id, l.service);
    if (l.drift) bf.drifted.set(id, l.drift);
  }
}

/** Puts the drift back on hosts an `audit --fix` corrected, so the next size again has 1 host in 4 drifted. */
export async function redrift(bf: BenchFleet, clients: AwsClients = createClients()): Promise<number> {
  const entries = [...bf.drifted.entries()];
  await mapLimit(entries, CONCURRENCY, async ([id, d]) => {
    await clients.ec2.send(
      new ModifyInstanceMetadataOptionsCommand({
        InstanceId: id,
        HttpTokens: d.httpTokens,
        HttpPutResponseHopLimit: d.hopLimit,
        HttpEndpoint: d.httpEndpoint,
      }),
    );
  });
  return entries.length;
}
