// What mlx-guard knows of its requests to the model server: attempts in flight and their
// progress, each loss's verdicts, the poison list and the replay lane. The server and the
// supervisor both talk to it; it imports nothing else in src.
export { Journal, type JournalEntry, type RequestInfo } from './journal.js';
export { describePoison, POISON_DEFAULTS, PoisonList, type LossVerdict, type PoisonEntry, type PoisonKind } from './poison.js';
export { AloneGate } from './alone-gate.js';
export { SerialLane } from './serial-lane.js';
