// A local EPay (易支付) merchant API: the order query (api.php?act=order) and
// refund (act=refund) that Tally calls, plus a signer for notifies.
import { createServer, type Server } from 'node:http';
import { epaySign } from '../../src/payments/providers/epay.ts';

export class FakeEpay {
  readonly pid = '1001';
  readonly key = 'epay-merchant-key-0123456789';
  /** out_trade_no → the platform's record of the trade. */
  readonly trades = new Map<string, { trade_no: string; money: string; status: 0 | 1 }>();
  refundSupported = true;
  /** Every act=refund call the merchant API accepted. */
  readonly refunds: Array<{ out_trade_no: string | null; trade_no: string | null; money: string | null }> = [];
  /** Order queries (api.php?act=order, which carries the merchant key in its URL) that reached this API. */
  orderQueries = 0;
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const u = new URL(req.url ?? '/', 'http://x');
        const p = new URLSearchParams(body);
        const send = (obj: unknown) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(obj));
        };
        const act = u.searchParams.get('act') ?? p.get('act');
        const key = u.searchParams.get('key') ?? p.get('key');
        if (u.pathname !== '/api.php' || key !== this.key) return send({ code: -1, msg: 'KEY校验失败' });
        if (act === 'order') {
          this.orderQueries++;
          const t = this.trades.get(u.searchParams.get('out_trade_no') ?? '');
          if (!t) return send({ code: -1, msg: '订单号不存在' });
          return send({
            code: 1,
            msg: '查询订单号成功！',
            trade_no: t.trade_no,
            out_trade_no: u.searchParams.get('out_trade_no'),
            type: 'alipay',
            pid: this.pid,
            name: 'x',
            money: t.money,
            status: t.status,
          });
        }
        if (act === 'refund') {
          if (!this.refundSupported) return send({ code: -1, msg: '不支持退款' });
          this.refunds.push({ out_trade_no: p.get('out_trade_no'), trade_no: p.get('trade_no'), money: p.get('money') });
          return send({ code: 1, msg: '退款成功' });
        }
        send({ code: -1, msg: 'unknown act' });
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    return this;
  }

  /** The notify parameters EPay sends when a trade succeeds, signed. */
  notify(outTradeNo: string, money: string, opts: { tradeNo?: string; status?: string } = {}): Record<string, string> {
    const params: Record<string, string> = {
      pid: this.pid,
      trade_no: opts.tradeNo ?? `2025${Math.floor(Math.random() * 1e12)}`,
      out_trade_no: outTradeNo,
      type: 'alipay',
      name: 'Tally top-up',
      money,
      trade_status: opts.status ?? 'TRADE_SUCCESS',
    };
    return { ...params, sign: epaySign(params, this.key), sign_type: 'MD5' };
  }

  async close() {
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
