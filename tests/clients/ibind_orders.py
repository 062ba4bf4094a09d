"""Drives ibind's order methods, unchanged, against the simulator's sandbox: an order that IBKR
answers with two questions (price off by more than 3%, size above 500), answered through ibind's
own question handling; its status; a modification that asks again; a declined question; the
cancellation; the live orders list. Configured only through the IBIND_* environment variables.
Prints one JSON line per step; the test reads them.
"""

from ibind import IbkrClient, OrderRequest, QuestionType
from steps import say

CONID = 265598



def main():
    client = IbkrClient()
    acct = client.portfolio_accounts().data[0]['accountId']
    client.get('iserver/accounts')  # IBKR wants this before orders

    snap = client.get('iserver/marketdata/snapshot', params={'conids': str(CONID), 'fields': '31'}).data
    last = float(snap[0]['31'])
    low = round(last * 0.85, 2)  # far below the market: the order asks o163 and does not fill
    say('price', last=last, limit=low)

    answers = {QuestionType.PRICE_PERCENTAGE_CONSTRAINT: True, QuestionType.ORDER_SIZE_LIMIT: True}
    order = OrderRequest(conid=CONID, side='BUY', quantity=600, order_type='LMT', price=low, acct_id=acct, tif='DAY',
                         coid='ibind-order-1')
    placed = client.place_order(order, answers, account_id=acct).data
    if isinstance(placed, list):
        placed = placed[0]
    say('placed', order_id=placed.get('order_id'), status=placed.get('order_status'))
    order_id = placed['order_id']

    status = client.order_status(order_id).data
    say('status', status=status.get('order_status'), total=status.get('total_size'), limit=status.get('limit_price'))

    lower = round(last * 0.80, 2)
    modify = OrderRequest(conid=CONID, side='BUY', quantity=600, order_type='LMT', price=lower, acct_id=acct, tif='DAY')
    modified = client.modify_order(order_id, modify, answers, account_id=acct).data
    if isinstance(modified, list):
        modified = modified[0]
    say('modified', order_id=modified.get('order_id'), status=modified.get('order_status'))
    say('status-after-modify', limit=client.order_status(order_id).data.get('limit_price'))

    declined = OrderRequest(conid=CONID, side='BUY', quantity=1, order_type='LMT', price=low, acct_id=acct, tif='DAY')
    try:
        client.place_order(declined, {QuestionType.PRICE_PERCENTAGE_CONSTRAINT: False}, account_id=acct)
        say('declined', raised=False)
    except RuntimeError as e:  # ibind refuses to go on when an answer is no
        say('declined', raised=True, named='price exceeds the Percentage constraint of 3%' in str(e))

    cancelled = client.cancel_order(order_id, account_id=acct).data
    say('cancelled', msg=cancelled.get('msg'), order_id=cancelled.get('order_id'))

    live = client.live_orders().data['orders']
    say('live', orders=[{'id': o['orderId'], 'status': o['status'], 'ref': o.get('order_ref')} for o in live])

    client.close()
    say('closed')


if __name__ == '__main__':
    main()
