// Translation between the protocols Tally speaks (OpenAI chat, Anthropic
// Messages, OpenAI Responses, Gemini), for cross-protocol pairs in the relay's
// attempt step; OpenAI chat is the hub. The Responses and Gemini translators
// are tested against their mocks and the official SDKs but not yet wired to a
// protocol or provider adapter (issue 14). Pure functions and small state machines:
// no I/O. Each file's header lists what it maps, drops and refuses.
export { chatToMessagesRequest, messagesToChatResponse } from './chatToMessages.ts';
export { MessagesStreamToChat } from './messagesStreamToChat.ts';
export { messagesToChatRequest, chatToMessagesResponse } from './messagesToChat.ts';
export { ChatStreamToMessages } from './chatStreamToMessages.ts';
export { SseEventParser, type SseEvent } from './sse.ts';
export { THINKING_BUDGET, effortOfBudget } from './shared.ts';
export { responsesToChatRequest, chatToResponsesResponse } from './responsesToChat.ts';
export { ChatStreamToResponses } from './responsesStream.ts';
export { chatToGeminiRequest, geminiToChatResponse } from './geminiFromChat.ts';
export { GeminiStreamToChat } from './geminiStreamToChat.ts';
export { geminiToChatRequest, chatToGeminiResponse } from './geminiToChat.ts';
export { ChatStreamToGemini } from './geminiStreamFromChat.ts';
export { geminiBlockError, usageOfGemini, readGeminiUsage, emptyGeminiCounts, type GeminiCounts } from './geminiShared.ts';
