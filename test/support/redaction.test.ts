import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { redactSecrets, luhnValid, residentIdValid } from '../../src/support/redaction.ts';
import { generateNormalizedCode, formatCode, checkCharacter } from '../../src/redeem/format.ts';

const code = formatCode(generateNormalizedCode());
// The same code with its check character replaced: a near-miss (fails the check).
const body = code.replace(/^TALLY-/, '').replace(/-/g, '');
const wrong = formatCode(body.slice(0, 19) + (checkCharacter(body.slice(0, 19)) === 'A' ? 'B' : 'A'));

describe('secret redaction scanner', () => {
  const positives: Array<[string, string, RegExp]> = [
    ['card number with spaces (Luhn-valid)', 'my card is 4111 1111 1111 1111 thanks', /\[card \*\*\*\*1111\]/],
    ['card number 13 digits', 'card 4222222222222', /\[card \*\*\*\*2222\]/],
    ['full redeem code', `code ${code} did not work`, /TALLY-\*\*\*\*-\*\*\*\*-\*\*\*\*-\*\*\*\*-/],
    ['redeem code typed lowercase without hyphens', `code ${code.toLowerCase().replace(/-/g, '')}`, /TALLY-\*\*\*\*/],
    ['API key', 'I use sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL', /sk-…IJKL/],
    ['resident ID with X', '身份证 11010519491231002X', /\[resident ID removed\]/],
    ['bank account after 账号', '收款账号:6228480402564890011', /\*\*\*\*0011\]/],
    ['bank account after "account number"', 'account number 12345678901', /\[bank account \*\*\*\*8901\]/],
    ['IBAN', 'IBAN GB82 WEST 1234 5698 7654 32', /\[bank account \*\*\*\*5432\]/],
    ['password after 密码', '我的密码是 Abc12345!', /\[password removed\]/],
    ['password after "password:"', 'password: hunter2', /\[password removed\]/],
  ];
  for (const [name, text, expect] of positives) {
    test(`removes: ${name}`, () => {
      const r = redactSecrets(text);
      assert.ok(r.findings.length >= 1, `${name}: nothing found in ${text}`);
      if (expect) assert.match(r.text, expect);
      assert.ok(r.notice && /public channel/.test(r.notice.en) && /公开渠道/.test(r.notice.zh));
    });
  }
  test('a 19-digit Luhn-valid card with hyphens is recognised', () => {
    assert.ok(luhnValid('6011000990139424'));
    const r = redactSecrets('card 6011-0009-9013-9424');
    assert.equal(r.findings[0].kind, 'card_number');
  });

  const nearMisses: Array<[string, string]> = [
    ['a Luhn-invalid 16-digit number', 'ref 4111111111111112'],
    ['a 12-digit number', 'call 411111111111'],
    ['a millisecond timestamp', 'at 1714000000000 the page froze'],
    ['an order time as digits', 'order 20240101123045'],
    ['a redeem code with a wrong check character', `code ${wrong}`],
    ['a masked redeem code', 'code TALLY-****-****-****-****-ABCD'],
    ['a masked key', 'key sk-…abcd'],
    ['a short sk- word', 'the sk-test key'],
    ['an 18-digit number with a wrong ID check digit', 'id 110105194912310021'],
    ['"password" without a value', 'I forgot my password yesterday'],
    ['an order id', 'order ord_01jz8m4v6k2q3r4s5t6v7w8x9y'],
    ['an amount', 'I paid 100.00 CNY'],
  ];
  for (const [name, text] of nearMisses) {
    test(`keeps: ${name}`, () => {
      const r = redactSecrets(text);
      assert.equal(r.text, text, `${name} was changed: ${r.text}`);
      assert.equal(r.notice, null);
    });
  }
  test('resident ID check digit (ISO 7064 MOD 11-2)', () => {
    assert.equal(residentIdValid('11010519491231002X'), true);
    assert.equal(residentIdValid('110105194912310021'), false);
  });
});
