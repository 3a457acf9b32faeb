// What the served models are, read from their own files: family, size, context length, chat
// template. Disk reads only; the APIs that tell clients (Ollama's, /v1/models) shape it.
export { ModelCatalog, modelDirectory } from './catalog.js';
export { capabilitiesOf, parameterSize, readModelFacts, type ModelFacts } from './facts.js';
