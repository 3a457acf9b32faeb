// Ollama's own API (`/api/chat`, `/api/generate`, `/api/show`…): requests translated to one chat
// or text completion for the model server, and answers shaped as Ollama's lines. Pure code, no
// I/O, like src/openai.
export { AnswerClock, answerEnd, answerLine, type AnswerPart, type OllamaRoute } from './answer.js';
export { chatRequest, generateRequest, showRequest, type ChatRequest, type GenerateRequest } from './request-schema.js';
export { chatToOpenAi, generateToOpenAi, type Translated } from './to-openai.js';
