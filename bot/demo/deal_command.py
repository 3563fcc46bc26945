"""The `/deal` part of `drumbeat demo`: real commands through the real flow, answered in the terminal."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.panel import Panel
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from bot.demo.render import blocks_to_text
from bot.demo.rituals import DEMO_CRM, demo_people
from core.deals.commands import DealCommands
from core.deals.desk import DealDesk
from core.i18n import Translator
from core.queues.outbox import Notice, Outbox, outbox_worker
from handlers import blocks
from handlers.replies import reply_to
from integrations.demo import DemoCRM
from integrations.demo_seed import REPS


def show_deal_commands(
    console: Console, sessions: sessionmaker[Session], crm: DemoCRM, now: datetime, *, t: Translator
) -> None:
    people = demo_people(sessions, now, t.language, read_only=False)
    crm_label = t._(DEMO_CRM)
    desk = DealDesk(sessions, deal_url=crm.deal_url, clock=lambda: now)
    notices: list[Notice] = []
    worker = outbox_worker(Outbox(sessions, lambda: now), crm, notices.append, threads=1)
    deals = DealCommands(sessions, desk, people, clock=lambda: now, crm_label=crm_label)
    alice = REPS[0]
    mine = desk.my_open_deals(people.actor(alice.slack_id))
    target = mine[-1]
    someone_elses = next(d for d in desk.my_open_deals(people.actor(REPS[1].slack_id)))
    console.rule(t._("[bold]Quick updates from Slack: /deal[/bold]"))
    # Typed as a rep of the demo's language would type them (the English keys work for everyone).
    if t.language == "fr":
        update = f'"{target.name}" étape=contract montant=12,5k clôture=fdm prochaine="Envoyer le contrat"'
        elsewhere, wrong = f'"{someone_elses.name}" montant=5k', f'"{target.name}" montant=beaucoup'
    else:
        update = f'"{target.name}" stage=contract amount=12k close=eom next="Send MSA"'
        elsewhere, wrong = f'"{someone_elses.name}" amount=5k', f'"{target.name}" amount=lots'
    for user, text in (
        (alice, ""),
        (alice, target.name.split(" — ")[0]),
        (alice, update),
        (alice, elsewhere),
        (alice, wrong),
    ):
        t = deals.reader(user.slack_id)
        reply = reply_to(deals.receive(user.slack_id, text, response_url=None), deals, t=t)
        console.print(
            Panel(
                Text(blocks_to_text(reply.blocks, t=t)),
                title=Text(f"{user.first_name}: /deal {text}".rstrip()),
                title_align="left",
            )
        )
        if reply.accepted:
            worker.run_once()
            for notice in notices:
                deal = desk.get(notice.deal_id)
                assert deal is not None
                done = blocks.done(
                    deal,
                    desk.describe(deal, dict(notice.changes), dict(notice.before), t=t),
                    notice.note,
                    crm_label,
                    t=t,
                )
                console.print(
                    Panel(
                        Text(blocks_to_text(done, t=t)),
                        title=t._("…a moment later, once the CRM has it"),
                        title_align="left",
                    )
                )
            notices.clear()
