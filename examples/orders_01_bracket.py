"""Place a bracket order and follow it on the stream.

IBind's ``rest_04_place_order`` and ``rest_07_bracket_orders``, reworked.

IBind placed orders through ``IbkrClient.place_order(order_request, answers)`` on a second
session, with the answers to reply prompts matched on question text. Here the order goes through
the same session as the streams: trading is enabled explicitly, prompts are decided by message
id (or asked), every order carries a customer order id, and the handle follows the fills.

    python examples/orders_01_bracket.py --sim
    IBSTREAM_EXAMPLE_TRADE=1 python examples/orders_01_bracket.py --url URL --cacert gateway.pem

Against a real gateway this places real orders (on the account you are logged in to): it
refuses to run unless IBSTREAM_EXAMPLE_TRADE=1.
"""

from __future__ import annotations

import os
import sys

from _gateway import gateway, parse_args

import ibstream
from ibstream import Bracket, OrderRequest, PromptPolicy, TradingConfig

AAPL = 265598


def ask(prompt: ibstream.Prompt, what: str) -> bool:
    print(f"prompt {','.join(prompt.message_ids)} about {what}: {prompt.text} -> declined")
    return False


def main() -> None:
    args = parse_args(__doc__ or "")
    if not args.sim and os.environ.get("IBSTREAM_EXAMPLE_TRADE") != "1":
        sys.exit("this example places real orders: set IBSTREAM_EXAMPLE_TRADE=1 (or use --sim)")
    trading = TradingConfig(enabled=True, prompts=PromptPolicy(accept=["o163"], callback=ask))
    config = ibstream.ClientConfig(trading=trading)
    with gateway(args) as gw, ibstream.Client(gw.url, config=config, **gw.options) as client:
        last = client.trading.whatif(OrderRequest.market(AAPL, "BUY", 1)).amount or 100.0
        entry = OrderRequest.limit(AAPL, "BUY", 1, round(last * 1.001, 2), symbol="AAPL")
        bracket = Bracket(
            entry=entry, take_profit=round(last * 1.03, 2), stop_loss=round(last * 0.97, 2)
        )
        handles = client.trading.place_bracket(bracket)
        for h in handles.all():
            print(f"placed {h.order_id} cOID {h.coid}: {h.request.describe()}")
        parent = handles.parent.filled(timeout=30)
        print(f"entry {parent.status}: {handles.parent.filled_quantity:g} @ {parent.avg_price}")
        for h in handles.all()[1:]:
            print(f"child {h.order_id} {h.wait_status('Submitted', timeout=10).status}")
            h.cancel()
            print(f"child {h.order_id} {h.wait_done(timeout=10).status}")
        for h in handles.all():
            h.close()
        print("done")


if __name__ == "__main__":
    main()
