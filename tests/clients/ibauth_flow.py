"""Drives ibauth (OAuth 2.0), unchanged, against the simulator: its YAML config file (argv[1])
and the environment the test sets (HTTPS_PROXY to the simulator's proxy mode, SSL_CERT_FILE to
its throwaway CA) are the only configuration. Prints one JSON line per step; between steps it
waits for "go" on stdin so the test can act on the simulator.
"""
import asyncio
import sys

import httpx
from ibauth import auth_from_yaml
from steps import say, wait_for_test




async def signed_get(auth, path, params=None):
    # A request of the application's own, with ibauth's header (what its README shows).
    async with httpx.AsyncClient() as client:
        r = await client.get(f'{auth.url_client_portal}/v1/api{path}', params=params, headers=auth.header)
        r.raise_for_status()
        return r.json()


async def signed_post(auth, path, body):
    async with httpx.AsyncClient() as client:
        r = await client.post(f'{auth.url_client_portal}/v1/api{path}', json=body, headers=auth.header)
        r.raise_for_status()
        return r.json()


async def main():
    auth = auth_from_yaml(sys.argv[1])
    await auth.connect()  # token, SSO session (after the IP lookup), validate_sso, ssodh/init
    say('connected', ip=auth.IP, bearer=bool(auth.bearer_token))

    status = await auth.status()
    say('status', authenticated=status.authenticated, connected=status.connected)

    session = await auth.tickle()
    say('tickle', session=bool(session), authenticated=auth.authenticated)

    accounts = await signed_get(auth, '/portfolio/accounts')
    say('accounts', ids=[a.get('accountId') for a in accounts])
    snap = await signed_get(auth, '/iserver/marketdata/snapshot', {'conids': '265598,8314', 'fields': '31,84'})
    say('snapshot', conids=[s.get('conid') for s in snap])

    # An order IBKR asks about first (size above 500): the question, then the reply that places it.
    acct = accounts[0]['accountId']
    order = {'conid': 265598, 'side': 'BUY', 'quantity': 600, 'orderType': 'MKT', 'tif': 'DAY', 'cOID': 'ibauth-1'}
    question = await signed_post(auth, f'/iserver/account/{acct}/orders', {'orders': [order]})
    say('question', ids=question[0].get('messageIds'), has_reply_id=bool(question[0].get('id')))
    placed = await signed_post(auth, f'/iserver/reply/{question[0]["id"]}', {'confirmed': True})
    say('placed', status=placed[0].get('order_status'), order_id=placed[0].get('order_id'))

    wait_for_test('expire')
    try:
        await auth.tickle()
        say('after-expire', refused=False)
    except httpx.HTTPStatusError as e:
        say('after-expire', refused=True, status=e.response.status_code, authenticated=auth.authenticated)
    await auth.connect()  # the application reconnects (ibauth's tickle raises on 401)
    await auth.tickle()
    say('reconnected', authenticated=auth.authenticated)

    wait_for_test('lose brokerage session')
    await auth.tickle()  # sees authenticated: false and reconnects by itself
    say('tickle-lost', authenticated=auth.authenticated)
    await auth.tickle()  # its state is refreshed by the next tickle
    say('tickle-recovered', authenticated=auth.authenticated)
    accounts = await signed_get(auth, '/portfolio/accounts')
    say('accounts-again', ids=[a.get('accountId') for a in accounts])

    await auth.logout()
    say('logged-out')


if __name__ == '__main__':
    asyncio.run(main())
