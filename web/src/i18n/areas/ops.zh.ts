// Chinese messages of the console's ops pages: one for every key of ops.en.ts; spread into ../zh.ts.
import type { opsEn } from './ops.en.ts';

export const opsZh: Record<keyof typeof opsEn, string> = {
  'ops.probes.title': '探测与最近错误',
  'ops.probes.intro': '每个渠道会按计划发送一个很小的探测请求。上游拒绝密钥或额度不足的渠道会被停用；开启自动恢复时，连续探测正常后会重新启用。',
  'ops.probes.statusLink': '公开状态页',
  'ops.probes.none': '尚未探测。',
  'ops.probes.autoRecoverOn': '自动恢复：开',
  'ops.probes.autoRecoverOff': '自动恢复：关',
  'ops.probes.autoDisabled': '由 Tally 停用',
  'ops.probes.lastProbe': '最近一次探测',
  'ops.probes.history': '探测历史',
  'ops.probes.recentErrors': '最近错误',
  'ops.probes.noErrors': '最近没有错误。',
  'ops.probes.at': '时间',
  'ops.probes.result': '结果',
  'ops.probes.ok': '正常',
  'ops.probes.failed': '失败',
  'ops.probes.latency': '延迟',
  'ops.probes.httpStatus': 'HTTP',
  'ops.probes.class': '类别',
  'ops.probes.message': '信息',
  'ops.probes.source': '来源',
  'ops.probes.sourceProbe': '探测',
  'ops.probes.sourceRelay': '转发',
} as const;
