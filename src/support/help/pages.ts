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
  /** Set-up pages: the steps, in order. */
  steps?: { zh: string[]; en: string[] };
  /** Set-up pages: files and commands to copy, the same in both languages (comments in English). */
  snippets?: Array<{ title: { zh: string; en: string }; text: string }>;
  /** Set-up pages: what does not work, and why. */
  limits?: { zh: string[]; en: string[] };
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
      zh: 'Base URL 填本平台地址加 /v1(例如 https://你的域名/v1),API Key 填控制台创建的 sk- 开头的 Key。Python OpenAI SDK 用 base_url,Node.js SDK 用 baseURL;Chatbox、Cherry Studio 等客户端选择"OpenAI 兼容"并填写同样的地址。同一个 Key 也能用 Anthropic 原生格式调用(POST /v1/messages、POST /v1/messages/count_tokens),Anthropic SDK 和 Claude Code 直接可用,并支持提示缓存计价。Claude Code:设置环境变量 ANTHROPIC_BASE_URL=https://你的域名(不要加 /v1,Claude Code 会自己拼接 /v1/messages),Key 填在 ANTHROPIC_AUTH_TOKEN(或 ANTHROPIC_API_KEY)中,然后照常运行 claude;count_tokens 请求不计费。无论走哪种格式,模型都可以是 Claude、GPT、DeepSeek 等平台上的任意模型,格式不同时由平台自动转换。Codex CLI 和 Gemini CLI 各有单独的接入页面(/help/codex-cli、/help/gemini-cli)。Key 只放在服务端环境变量中,不要写进前端代码或公开仓库。',
      en: 'Set the base URL to this platform\'s address plus /v1 (e.g. https://your-host/v1) and the API key to an sk- key from the console. The Python OpenAI SDK calls it base_url, the Node.js SDK baseURL; clients such as Chatbox or Cherry Studio: choose "OpenAI compatible" and enter the same address. The same key also speaks Anthropic\'s own format (POST /v1/messages, POST /v1/messages/count_tokens), so the Anthropic SDKs and Claude Code work directly, with prompt caching priced. Claude Code: set ANTHROPIC_BASE_URL=https://your-host (without /v1: Claude Code appends /v1/messages itself) and put the key in ANTHROPIC_AUTH_TOKEN (or ANTHROPIC_API_KEY), then run claude as usual; its count_tokens calls are free. In either format the model can be any model on the platform (Claude, GPT, DeepSeek, ...): when formats differ, the platform translates. Codex CLI and Gemini CLI have set-up pages of their own (/help/codex-cli, /help/gemini-cli). Keep the key in server-side environment variables, never in front-end code or a public repository.',
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
  {
    slug: 'video-task-billing',
    title: { zh: '视频任务怎么计费?失败的任务会扣费吗?', en: 'How are video tasks billed, and is a failed task charged?' },
    answer: {
      zh: '提交视频任务(POST /v1/videos)时,平台按请求的秒数预留最高费用,预留金额显示在控制台"任务"页和首页"任务预留"中,可用余额相应减少,但这不是扣费。任务完成时按实际生成的秒数扣费(不超过预留金额),其余立即释放;任务失败、被取消(DELETE /v1/videos/:id)或超过截止时间时,预留金额全额释放,不扣任何费用。每个任务都有时间线(提交并预留、上游接受、状态变化、完成并扣费或释放),可在控制台"任务"页查看或导出 CSV。',
      en: 'When a video task is submitted (POST /v1/videos), the most it can cost (the seconds asked) is reserved: the console shows it on the Tasks page and as "reserved for running tasks" on the dashboard, and the available balance goes down, but it is not a charge. On completion the task is charged for the seconds produced (never more than reserved) and the rest is released at once; a task that fails, is cancelled (DELETE /v1/videos/:id) or passes its deadline is released in full and charged nothing. Every task has a timeline (submitted and held, accepted, status changes, completed and charged or released) on the console\'s Tasks page and in its CSV export.',
    },
    applies: {
      zh: ['视频任务失败了,担心被扣费', '余额中有一部分被"预留",任务还在运行'],
      en: ['A video task failed and you worry it was charged', 'Part of the balance is "reserved" while a task runs'],
    },
    evidence: {
      zh: ['任务 ID(video_ 开头)', '提交时间', '任务页显示的状态和错误'],
      en: ['The task id (video_…)', 'When it was submitted', 'The status and error the Tasks page shows'],
    },
    cases: ['charged_for_failed_task', 'task_running_reserved'],
  },
  {
    slug: 'codex-cli',
    title: { zh: '如何让 Codex CLI 使用本平台?', en: 'How to use Codex CLI with this platform' },
    answer: {
      zh: 'Codex CLI 使用 OpenAI 的 Responses 接口(POST /v1/responses)。在 ~/.codex/config.toml 里把本平台加为一个模型提供方:base_url 填 https://你的域名/v1(Codex 会自己拼接 /responses),env_key 填存放 sk- Key 的环境变量名,wire_api = "responses";再用 model_provider 选中它,用 model 选默认模型(单次运行可用 codex -m 模型名)。Key 可用的任何模型都能用:上游原生支持 Responses 的 OpenAI 渠道直接透传;Claude、Gemini、DeepSeek 等其他模型由平台在 Responses 和它们自己的格式之间自动转换。计费与其他请求相同,推理(reasoning)token 按输出计费。',
      en: 'Codex CLI speaks OpenAI\'s Responses API (POST /v1/responses). Add this platform as a model provider in ~/.codex/config.toml: base_url = https://your-host/v1 (Codex appends /responses itself), env_key = the name of the environment variable that holds your sk- key, wire_api = "responses"; select it with model_provider and pick the default model with model (codex -m <model> for one run). Any model your key may use works: on an OpenAI channel whose upstream speaks Responses natively the request passes through; Claude, Gemini, DeepSeek and other models are translated between Responses and their own format. It is billed like any other request, reasoning tokens as output.',
    },
    steps: {
      zh: [
        '在控制台"API Key"页面创建一个 sk- 开头的 Key(可以只允许 Codex 要用的模型)。',
        '把 Key 放进环境变量:macOS / Linux 在 ~/.zshrc 或 ~/.bashrc 中加入 export TALLY_API_KEY="sk-…";Windows PowerShell 运行 setx TALLY_API_KEY "sk-…" 后重新打开终端。不要把 Key 直接写进 config.toml。',
        '编辑 ~/.codex/config.toml(Windows:%USERPROFILE%\\.codex\\config.toml),写入下面的配置。model 和 model_provider 这两行必须写在 [model_providers.tally] 之前。model 填 GET /v1/models 列出的任意模型名。',
        '运行 codex exec "用一句话介绍你自己" 检查一次;能正常回答就说明地址、Key 和模型都正确。之后照常运行 codex;换模型用 codex -m 模型名。',
      ],
      en: [
        "Create an sk- key on the console's API keys page (you may limit it to the models Codex should use).",
        'Put the key in an environment variable: on macOS / Linux add export TALLY_API_KEY="sk-…" to ~/.zshrc or ~/.bashrc; in Windows PowerShell run setx TALLY_API_KEY "sk-…" and open a new terminal. Do not write the key into config.toml.',
        'Edit ~/.codex/config.toml (Windows: %USERPROFILE%\\.codex\\config.toml) as below. The model and model_provider lines must come before the [model_providers.tally] table. model is any name GET /v1/models lists.',
        'Run codex exec "introduce yourself in one sentence" once to check: an answer means the address, key and model are right. Then run codex as usual; codex -m <model> switches model.',
      ],
    },
    snippets: [
      {
        title: { zh: '~/.codex/config.toml', en: '~/.codex/config.toml' },
        text: [
          '# any model GET /v1/models lists for your key',
          'model = "gpt-5-codex"',
          'model_provider = "tally"',
          '',
          '[model_providers.tally]',
          'name = "Tally"',
          'base_url = "https://your-host/v1"',
          'env_key = "TALLY_API_KEY"',
          'wire_api = "responses"',
        ].join('\n'),
      },
      {
        title: { zh: '检查和使用', en: 'Check and use' },
        text: ['export TALLY_API_KEY="sk-..."', 'codex exec "introduce yourself in one sentence"', 'codex -m claude-sonnet-4-5'].join('\n'),
      },
    ],
    limits: {
      zh: [
        'OpenAI 托管的工具(web_search、file_search、code_interpreter 等)只有请求到达原生支持 Responses 的 OpenAI 上游时才生效;转换到其他上游时这些工具会被去掉,模型不会联网搜索,其余工具(读写文件、执行命令)照常工作。',
        'previous_response_id 只在请求到达保存了该响应的同一个原生 Responses 上游时可用,否则返回 400 并说明原因。Codex CLI 默认发送 store: false 和完整对话,不受影响。',
        'Codex 不认识平台上非 OpenAI 模型的上下文长度和推理设置,会使用通用默认值并打印提示,可以忽略。',
        'wire_api 只能是 "responses";旧教程中的 wire_api = "chat" 会被新版 Codex 拒绝。',
      ],
      en: [
        "OpenAI's hosted tools (web_search, file_search, code_interpreter, ...) work only when the request reaches an OpenAI upstream that speaks Responses natively; translated to any other upstream they are left out and the model simply does not search. Codex's own tools (reading and editing files, running commands) work everywhere.",
        'previous_response_id works only when the request reaches the same native Responses upstream that holds that response; otherwise a 400 says so. Codex CLI sends store: false and the whole conversation by default, so it is not affected.',
        'Codex does not know the context window or reasoning settings of models outside its own catalogue: it uses generic defaults and prints a warning you can ignore.',
        'wire_api must be "responses": wire_api = "chat" from older guides is refused by current Codex releases.',
      ],
    },
    applies: {
      zh: ['第一次把 Codex CLI 接到本平台', 'Codex 报 401(Key 或环境变量不对)、404(base_url 没有以 /v1 结尾)或模型不存在'],
      en: [
        'Connecting Codex CLI to this platform for the first time',
        'Codex reports 401 (wrong key or environment variable), 404 (base_url does not end in /v1) or an unknown model',
      ],
    },
    evidence: {
      zh: ['codex --version 的输出', 'config.toml 中 [model_providers.tally] 一段(不要附带 Key)', '错误信息和请求 ID(x-request-id)', 'Key 末 4 位'],
      en: [
        'The output of codex --version',
        'The [model_providers.tally] block of config.toml (without the key)',
        'The error message and request id (x-request-id)',
        'The last 4 characters of the key',
      ],
    },
    cases: [],
  },
  {
    slug: 'gemini-cli',
    title: { zh: '如何让 Gemini CLI 使用本平台?', en: 'How to use Gemini CLI with this platform' },
    answer: {
      zh: 'Gemini CLI 使用 Google 的 Gemini 接口(POST /v1beta/models/{model}:streamGenerateContent)。设置两个环境变量即可:GEMINI_API_KEY=你的 sk- Key,GOOGLE_GEMINI_BASE_URL=https://你的域名(不要加 /v1beta,Gemini CLI 会自己拼接);首次运行时认证方式选择"Use Gemini API key",用 -m 选择模型。Key 可用的任何模型都能用:Gemini 模型走 Gemini 上游;GPT、Claude、DeepSeek 等其他模型由平台自动在 Gemini 格式和它们自己的格式之间转换。@google/genai SDK 同样读取 GOOGLE_GEMINI_BASE_URL,也可以用 httpOptions.baseUrl 指定。',
      en: 'Gemini CLI speaks Google\'s Gemini API (POST /v1beta/models/{model}:streamGenerateContent). Two environment variables are enough: GEMINI_API_KEY=<your sk- key> and GOOGLE_GEMINI_BASE_URL=https://your-host (without /v1beta: Gemini CLI appends it). On first start choose "Use Gemini API key" as the authentication method; pick the model with -m. Any model your key may use works: Gemini models go to a Gemini upstream; GPT, Claude, DeepSeek and other models are translated between Gemini\'s format and their own. The @google/genai SDK reads GOOGLE_GEMINI_BASE_URL too, or takes httpOptions.baseUrl.',
    },
    steps: {
      zh: [
        '在控制台"API Key"页面创建一个 sk- 开头的 Key。',
        '设置环境变量 GEMINI_API_KEY 和 GOOGLE_GEMINI_BASE_URL(写进 ~/.gemini/.env 最省事,Gemini CLI 启动时会读取;也可以写进 ~/.zshrc 或 ~/.bashrc)。',
        '在 ~/.gemini/settings.json 中把认证方式设为 gemini-api-key(见下方配置),否则 Gemini CLI 会尝试用 Google 账号登录。',
        '运行 gemini -m gemini-2.5-pro -p "用一句话介绍你自己" 检查一次,然后照常运行 gemini;-m 可以换成 GET /v1beta/models 列出的任意模型。',
      ],
      en: [
        "Create an sk- key on the console's API keys page.",
        'Set GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL (simplest in ~/.gemini/.env, which Gemini CLI reads at start; ~/.zshrc or ~/.bashrc work too).',
        'Set the authentication method to gemini-api-key in ~/.gemini/settings.json (below); otherwise Gemini CLI tries to sign in with a Google account.',
        'Run gemini -m gemini-2.5-pro -p "introduce yourself in one sentence" once to check, then run gemini as usual; -m takes any model GET /v1beta/models lists.',
      ],
    },
    snippets: [
      {
        title: { zh: '~/.gemini/.env', en: '~/.gemini/.env' },
        text: ['GEMINI_API_KEY="sk-..."', 'GOOGLE_GEMINI_BASE_URL="https://your-host"'].join('\n'),
      },
      {
        title: { zh: '~/.gemini/settings.json', en: '~/.gemini/settings.json' },
        text: ['{', '  "security": { "auth": { "selectedType": "gemini-api-key" } },', '  "model": { "name": "gemini-2.5-pro" }', '}'].join('\n'),
      },
      {
        title: { zh: '检查和使用', en: 'Check and use' },
        text: ['gemini -m gemini-2.5-pro -p "introduce yourself in one sentence"', 'gemini -m claude-sonnet-4-5'].join('\n'),
      },
    ],
    limits: {
      zh: [
        'Gemini CLI 的联网搜索(google_web_search)和网页抓取(web_fetch)依赖 Google 托管的 googleSearch / urlContext 工具,只有请求到达 Gemini 上游时可用;选了非 Gemini 模型时这两个工具会返回 400 并说明原因,其余工具(读写文件、执行命令)照常工作。',
        '上下文缓存(cachedContent)、代码执行(codeExecution)以及通过 Files API 上传的文件只在 Gemini 上游可用。',
        '非 Gemini 模型的思考内容(thinkingConfig)按平台换算成对应模型的推理强度;推理 token 一律按输出计费。',
      ],
      en: [
        "Gemini CLI's web search (google_web_search) and web fetch (web_fetch) rely on Google's hosted googleSearch / urlContext tools and work only when the request reaches a Gemini upstream; with a non-Gemini model those two tools get a 400 that says why, while the other tools (reading and editing files, running commands) work.",
        'Context caching (cachedContent), code execution (codeExecution) and files uploaded through the Files API work on a Gemini upstream only.',
        "For non-Gemini models thinkingConfig becomes that model's reasoning effort; reasoning tokens are always billed as output.",
      ],
    },
    applies: {
      zh: ['第一次把 Gemini CLI 或 @google/genai SDK 接到本平台', 'Gemini CLI 仍要求用 Google 账号登录,或报 API key not valid、404'],
      en: [
        'Connecting Gemini CLI or the @google/genai SDK to this platform for the first time',
        'Gemini CLI still asks for a Google sign-in, or reports API key not valid or 404',
      ],
    },
    evidence: {
      zh: ['gemini --version 的输出', 'GOOGLE_GEMINI_BASE_URL 的值', '使用的模型名', '错误信息和请求 ID(x-request-id)', 'Key 末 4 位'],
      en: [
        'The output of gemini --version',
        'The value of GOOGLE_GEMINI_BASE_URL',
        'The model name used',
        'The error message and request id (x-request-id)',
        'The last 4 characters of the key',
      ],
    },
    cases: [],
  },
];

export const helpPage = (slug: string) => HELP_PAGES.find((p) => p.slug === slug) ?? null;
