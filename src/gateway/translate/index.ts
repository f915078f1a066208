// Translation between OpenAI chat and Anthropic Messages, for cross-protocol
// pairs in the relay's attempt step. Pure functions and small state machines:
// no I/O. Each file's header lists what it maps, drops and refuses.
export { chatToMessagesRequest, messagesToChatResponse } from './chatToMessages.ts';
export { MessagesStreamToChat } from './messagesStreamToChat.ts';
export { messagesToChatRequest, chatToMessagesResponse } from './messagesToChat.ts';
export { ChatStreamToMessages } from './chatStreamToMessages.ts';
export { SseEventParser, type SseEvent } from './sse.ts';
export { THINKING_BUDGET, effortOfBudget } from './shared.ts';
