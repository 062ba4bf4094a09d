// CommonJS under nodenext: `import x = require()` resolves the `require` types (index.d.cts).
import ibkr = require('ibkr-auth');

export const header: string = ibkr.signRequest({
  method: 'GET', url: 'https://api.ibkr.com/v1/api/tickle', consumerKey: 'K', accessToken: 't', liveSessionToken: 'AA==',
}).authorization;
// @ts-expect-error: signRsaSha256 takes the key and the text
ibkr.signRsaSha256('pem');
