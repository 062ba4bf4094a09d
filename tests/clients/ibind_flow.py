"""Drives ibind (OAuth 1.0a), unchanged, against the simulator; configured only through the
IBIND_* environment variables the test sets. Prints one JSON line per step; the test reads them.

stdin carries commands from the test between steps ("go" lines), so the test can act on the
simulator (expire the token) while the client waits.
"""

from ibind import IbkrClient
from steps import say, wait_for_test




def main():
    client = IbkrClient()  # use_oauth, the URL, keys and DH prime all come from the environment
    say('handshake', lst=bool(client.live_session_token), expires=client.live_session_token_expires_ms)

    status = client.authentication_status().data
    say('status', authenticated=status.get('authenticated'), connected=status.get('connected'))

    accounts = client.portfolio_accounts().data
    say('accounts', ids=[a.get('accountId') for a in accounts])

    snap = client.get('iserver/marketdata/snapshot', params={'conids': '265598,8314', 'fields': '31,84,86'}).data
    say('snapshot', conids=[s.get('conid') for s in snap])

    tickle = client.tickle().data
    say('tickle', authenticated=tickle['iserver']['authStatus']['authenticated'])

    wait_for_test('expire')
    try:
        client.portfolio_accounts()
        say('after-expire', refused=False)
    except Exception as e:  # ibind raises ExternalBrokerError with the status
        say('after-expire', refused=True, status=getattr(e, 'status_code', None))
    healthy = client.handle_auth_status()  # ibind's own recovery: checks, then a new LST and init
    say('recovered', healthy=healthy, status=client.check_auth_status())
    accounts = client.portfolio_accounts().data
    say('accounts-again', ids=[a.get('accountId') for a in accounts])

    client.close()  # stops the tickler and POSTs /logout (IBIND_SHUTDOWN_OAUTH)
    say('closed')


if __name__ == '__main__':
    main()
