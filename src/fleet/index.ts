// The models mlx-guard serves, one supervised model server each: routing by name, loading on
// demand, unloading when idle.
export { Fleet, MemoryRefusal, type FleetMemory, type FleetModel, type FleetOptions, type FleetSupervisor, type Held } from './fleet.js';
