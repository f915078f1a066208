// The help center's pages, in the project's own words, Chinese and English:
// the short answer first, then when it applies and what evidence to collect.
// The doctor links each case class to one of these slugs.

export interface HelpPage {
  slug: string;
  title: { zh: string; en: string };
  answer: { zh: string; en: string };
  applies: { zh: string[]; en: string[] };
  evidence: { zh: string[]; en: string[] };
  cases: string[];
}

export const HELP_PAGES: HelpPage[] = [
  {
    slug: 'payment-order-refund-redeem',
    title: {
      zh: '支付失败、订单处理中、未到账、重复支付、退款或兑换码未入账怎么办?',
      en: 'Payment failed, order processing, not credited, paid twice, refund, or redeem code not credited?',
    },
    answer: {
      zh: '先分清是哪一类:支付失败、订单处理中、已支付未到账、重复支付需要退款、兑换码无效或未入账。再核对当前登录账号、付款账号、调用 API 的 Key 所属账号和兑换码的兑换账号是否为同一个。控制台"问题诊断"会读取订单时间线、余额流水、兑换记录和请求日志,直接给出分类、证据和下一步;订单处理中可点击"立即向支付渠道核对",入账只会发生一次。',
      en: 'First tell which case it is: payment failed, order still processing, paid but not credited, paid twice (refund), or redeem code not credited. Then check that the signed-in account, the account that paid, the account that owns the API key being called and the account that redeemed the code are the same. The console\'s diagnosis reads the order timeline, ledger, redeem attempts and request log and shows the class, the evidence and the next step; for an order still processing, "check with the provider now" credits it at once if the provider has the money, and never twice.',
    },
    applies: {
      zh: ['余额没有增加,但付款页面显示成功或银行已扣款', '订单长时间显示"处理中"', '同一笔充值付了两次', '兑换码提示已被使用、已过期或输入有误'],
      en: [
        'The balance did not go up although the payment page said success or the bank charged you',
        'An order has shown "processing" for a long time',
        'One top-up was paid twice',
        'A redeem code says already used, expired or mistyped',
      ],
    },
    evidence: {
      zh: [
        '账号邮箱或昵称',
        '支付方式',
        '大致订单时间和金额',
        '订单状态和页面提示',
        '是否重复提交',
        '脱敏的订单号末 6 位或兑换码末 4 位',
        '不要发送:完整付款截图、完整兑换码、银行卡号、支付账号、身份证号、密码',
      ],
      en: [
        'Account email or nickname',
        'Payment method',
        'Approximate order time and amount',
        'Order status and what the page said',
        'Whether you submitted twice',
        'The last 6 characters of the order id or the last 4 of the redeem code',
        'Never send: full payment screenshots, full redeem codes, card numbers, payment accounts, ID numbers, passwords',
      ],
    },
    cases: ['payment_failed', 'order_processing', 'paid_not_credited', 'duplicate_payment', 'refund_or_compensation', 'redeem_not_credited'],
  },
  {
    slug: 'model-not-found',
    title: { zh: '报"模型不存在"(model_not_found)先查什么?', en: 'What to check first when the API says the model does not exist (model_not_found)' },
    answer: {
      zh: '先确认请求里的模型名与 GET /v1/models 返回的列表完全一致(大小写、版本后缀);再确认当前 Key 和账号分组有该模型的权限(否则是 403 model_not_allowed);最后确认客户端没有改写模型名、请求确实发到了本平台的 Base URL。错误信息里的"did you mean"会给出最接近的模型名。',
      en: 'Check that the model name in the request matches an entry of GET /v1/models exactly (case, version suffix); then that the key and your group may use it (otherwise the answer is 403 model_not_allowed); then that the client does not rewrite the name and really calls this platform\'s base URL. The error\'s "did you mean" names the closest model.',
    },
    applies: {
      zh: ['HTTP 404,错误码 model_not_found', '换了客户端或 SDK 后出现'],
      en: ['HTTP 404 with code model_not_found', 'It started after switching client or SDK'],
    },
    evidence: {
      zh: ['请求 ID(响应头 x-request-id)', '使用的模型名', 'Base URL', 'Key 末 4 位'],
      en: ['The request id (x-request-id response header)', 'The model name sent', 'The base URL', 'The last 4 characters of the key'],
    },
    cases: [],
  },
  {
    slug: 'insufficient-balance-402',
    title: { zh: '402 余额不足是什么意思?', en: 'What does 402 insufficient balance mean?' },
    answer: {
      zh: '请求开始前,系统会按 max_tokens 预留这次请求可能的最高费用,结束后只按实际用量扣费并释放剩余部分。402 表示预留不成功,原因有三种:钱包可用余额不足;该 Key 的消费上限已用完;或所在分组不允许该模型。错误详情里的 limit 字段会说明是哪一种。402 的请求不扣费。',
      en: "Before a request starts, the most it could cost (from max_tokens) is held; afterwards only actual usage is charged and the rest released. 402 means the hold failed, for one of three reasons: the wallet's available balance is too low, the key's own spend limit is used up, or your group may not use the model. The error details' limit field says which. A 402 request is not charged.",
    },
    applies: {
      zh: ['HTTP 402,错误码 insufficient_balance', '刚充值但仍然 402(可能充到了另一个账号,或 Key 属于另一个账号)'],
      en: ['HTTP 402 with code insufficient_balance', 'Still 402 right after a top-up (the top-up or the key may be on another account)'],
    },
    evidence: {
      zh: ['请求 ID', 'Key 末 4 位', '当前余额和 Key 的消费上限', '请求的 max_tokens'],
      en: ['The request id', 'The last 4 characters of the key', "Current balance and the key's spend limit", "The request's max_tokens"],
    },
    cases: ['insufficient_balance'],
  },
  {
    slug: 'base-url-setup',
    title: { zh: '如何在 SDK 和客户端中配置 base_url?', en: 'How to set base_url in SDKs and clients' },
    answer: {
      zh: 'Base URL 填本平台地址加 /v1(例如 https://你的域名/v1),API Key 填控制台创建的 sk- 开头的 Key。Python OpenAI SDK 用 base_url,Node.js SDK 用 baseURL;Chatbox、Cherry Studio 等客户端选择"OpenAI 兼容"并填写同样的地址。同一个 Key 也能用 Anthropic 原生格式调用(POST /v1/messages、POST /v1/messages/count_tokens),Anthropic SDK 和 Claude Code 直接可用,并支持提示缓存计价。Claude Code:设置环境变量 ANTHROPIC_BASE_URL=https://你的域名(不要加 /v1,Claude Code 会自己拼接 /v1/messages),Key 填在 ANTHROPIC_AUTH_TOKEN(或 ANTHROPIC_API_KEY)中,然后照常运行 claude;count_tokens 请求不计费。无论走哪种格式,模型都可以是 Claude、GPT、DeepSeek 等平台上的任意模型,格式不同时由平台自动转换。Key 只放在服务端环境变量中,不要写进前端代码或公开仓库。',
      en: 'Set the base URL to this platform\'s address plus /v1 (e.g. https://your-host/v1) and the API key to an sk- key from the console. The Python OpenAI SDK calls it base_url, the Node.js SDK baseURL; clients such as Chatbox or Cherry Studio: choose "OpenAI compatible" and enter the same address. The same key also speaks Anthropic\'s own format (POST /v1/messages, POST /v1/messages/count_tokens), so the Anthropic SDKs and Claude Code work directly, with prompt caching priced. Claude Code: set ANTHROPIC_BASE_URL=https://your-host (without /v1: Claude Code appends /v1/messages itself) and put the key in ANTHROPIC_AUTH_TOKEN (or ANTHROPIC_API_KEY), then run claude as usual; its count_tokens calls are free. In either format the model can be any model on the platform (Claude, GPT, DeepSeek, ...): when formats differ, the platform translates. Keep the key in server-side environment variables, never in front-end code or a public repository.',
    },
    applies: { zh: ['第一次接入', '报 401、404 或连接错误'], en: ['Connecting for the first time', '401, 404 or connection errors'] },
    evidence: {
      zh: ['使用的 SDK 或客户端及版本', '填写的 Base URL(不要附带 Key)', '错误信息和请求 ID'],
      en: ['SDK or client and version', 'The base URL entered (without the key)', 'The error message and request id'],
    },
    cases: [],
  },
  {
    slug: 'charged-for-failed-request',
    title: { zh: '请求失败为什么还扣费?余额为什么下降?', en: 'Why was I charged for a failed request, and why did my balance drop?' },
    answer: {
      zh: '在产生任何输出之前失败的请求(上游错误、超时、被拒绝)不扣费,请求日志中显示 charged: false 和原因。如果流式输出已经开始后连接中断,已经生成的 token 会按量扣费,日志会说明这一点。余额异常下降通常来自客户端自动重试或重复提交、高价模型,或 Key 泄露后被他人从新的 IP 调用;诊断会逐条列出。',
      en: 'A request that fails before any output (upstream error, timeout, refusal) is not charged: its log row says charged: false and why. If the connection breaks after streaming started, the tokens produced so far are charged, and the row says so. An unexpected balance drop usually comes from client retries or duplicate submissions, a high-cost model, or a leaked key used from new IP addresses; the diagnosis lists each.',
    },
    applies: {
      zh: ['请求报错但余额减少', '一段时间内余额下降比预期快'],
      en: ['A request failed but the balance went down', 'The balance dropped faster than expected'],
    },
    evidence: {
      zh: ['请求 ID(x-request-id)', '时间范围', 'Key 末 4 位', '客户端是否开启自动重试'],
      en: ['Request ids (x-request-id)', 'The time range', 'The last 4 characters of the key', 'Whether the client retries automatically'],
    },
    cases: ['charged_for_failed_request', 'unexpected_balance_drop'],
  },
];

export const helpPage = (slug: string) => HELP_PAGES.find((p) => p.slug === slug) ?? null;
