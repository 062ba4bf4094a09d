"""Drives ibind's own WebSocket client (IbkrWsClient, OAuth 1.0a), unchanged, against the
simulator's /v1/api/ws: it fetches the session from /tickle, connects with ?oauth_token=, the
api cookie and its User-Agent, subscribes to market data, orders and P&L, places an order over
REST and follows it on the stream, and sends a tic. Configured only through the IBIND_*
environment variables the test sets. Prints one JSON line per step; the test reads them.

stdin carries "go" lines from the test, which moves the simulator's clock between steps.
"""

from ibind import IbkrClient, IbkrWsClient, OrderRequest, QueueSink, events
from ibind.subscriptions import MarketDataSubscription, OrdersSubscription, PnlSubscription
from ibind.support.py_utils import wait_until
from steps import say, wait_for_test

CONID = '265598'




def next_event(sink, event_type, timeout=15):
    event = sink.get(event_type, block=True, timeout=timeout)
    if event is None:
        raise SystemExit(f'no {event_type.__name__} event within {timeout} s')
    return event


def main():
    client = IbkrClient()  # use_oauth, the URLs, keys and DH prime all come from the environment
    acct = client.portfolio_accounts().data[0]['accountId']
    client.get('iserver/accounts')

    sink = QueueSink()
    ws = IbkrWsClient(ibkr_client=client, account_id=acct, sink=sink, synchronous_output_events=True)
    ws.start()
    say('authenticated', ok=wait_until(ws.is_authenticated, timeout=15))

    handle = ws.subscribe(MarketDataSubscription(conid=CONID, fields=['31', '84', '86']))
    say('md-subscribed', ok=handle.wait(15))
    first = next_event(sink, events.MarketData)
    say('md', conid=first.conid, data=first.data)

    wait_for_test('md-update')
    update = next_event(sink, events.MarketData)
    say('md-update', conid=update.conid, data=update.data)

    ws.subscribe(OrdersSubscription())
    say('pnl-subscribed', ok=ws.subscribe(PnlSubscription()).wait(15))
    pnl = next_event(sink, events.Pnl)
    say('pnl', data=pnl.data)
    snapshot = next_event(sink, events.Orders)
    say('orders', data=snapshot.data)

    order = OrderRequest(conid=int(CONID), side='BUY', quantity=3, order_type='MKT', acct_id=acct, tif='DAY', coid='ibind-ws-1')
    placed = client.place_order(order, {}, account_id=acct).data
    placed = placed[0] if isinstance(placed, list) else placed
    say('placed', order_id=placed.get('order_id'))
    submitted = next_event(sink, events.Orders)
    say('order-update', data=submitted.data)

    wait_for_test('fill')
    filled = next_event(sink, events.Orders)
    say('order-update', data=filled.data)

    tic = ws.tic()
    say('tic', alive=(tic or {}).get('alive'), lastAccessed=(tic or {}).get('lastAccessed'))

    ws.shutdown()
    client.close()
    say('closed')


if __name__ == '__main__':
    main()
