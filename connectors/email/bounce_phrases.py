"""The words of delivery reports that follow no standard: subjects, boilerplate texts and
where the failed address stands in them (English and German), for :mod:`.bounce`."""

from __future__ import annotations

import re

__all__ = ["ADDRESS", "AUTO_REPLY_SUBJECT", "BOUNCE_SUBJECT", "DELAY_SUBJECT", "DELAY_TEXT",
           "MTA_TEXT", "SUCCESS_SUBJECT", "smtp_refusal", "text_recipients"]

ADDRESS = r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+"

BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|non[- ]?deliver|delivery (?:status notification|failure|has failed"
    r"|failed|notification|problem|report)|mail delivery failed|returned mail|failure notice"
    r"|delivery failure|message status|could not be delivered|couldn't be delivered|not delivered"
    r"|permanent (?:delivery )?(?:failure|error)|mail system error|delivery status"
    r"|unzustellbar|nicht zustellbar|nicht zugestellt|zustellung fehlgeschlagen|rückläufer"
    r"|fehler bei der zustellung|zustellungsstatus|übermittlungsstatus|unzustellbare"
    r"|non remis|non recapitabile|onbestelbaar|delayed mail|warning: (?:could not send|message)"
    r"|mail could not|returned to sender|delivery (?:delayed|notification|warning)"
    r"|failed mail\b"
    # Exchange / Microsoft 365 non-delivery reports in the sender's UI language
    r"|no se (?:puede|pudo) entregar|imposible de entregar|não (?:é possível entregar|entregue)"
    r"|niedostarczaln|nie można dostarczyć|ej levererbar|kan inte levereras|kan ikke leveres"
    r"|ikke levert|ikke leveret|ei voitu toimittaa|nedoručiteln|nelze doručit"
    r"|kézbesíthetetlen|teslim edilemedi|не удается доставить|недоставл"
    # Japanese servers and gateways ("cannot deliver the message", "delivery error")
    r"|配信(?:でき|出来)ません|配送(?:でき|出来)ません|配信エラー|配送エラー|メールエラー|不達",
    re.IGNORECASE)
DELAY_SUBJECT = re.compile(
    r"\(delay\)|delayed mail|delivery delayed|warning: (?:could not send|message \S+ delayed)"
    r"|still being retried|verzögert|zustellung verzögert|\bdelayed\b|delivery warning",
    re.IGNORECASE)
DELAY_TEXT = re.compile(
    r"has not yet been delivered|not (?:yet )?been delivered (?:yet|after)|still being retried"
    r"|will (?:be )?retr(?:y|ied)|this is a warning message only|do not need to re-?send"
    r"|only a temporary failure report|a message is delayed"
    r"|has been delayed|message not delivered yet|delivery attempts will continue"
    r"|noch nicht zugestellt|wird weiter versucht|zustellung (?:wird|ist) verzögert",
    re.IGNORECASE)
SUCCESS_SUBJECT = re.compile(
    r"\((?:success|relayed|delivered)\)|^\s*(?:delivered|relayed|zugestellt|übermittelt):"
    r"|successful(?:ly)? (?:mail )?deliver", re.IGNORECASE)
MTA_TEXT = re.compile(
    r"this is the qmail-send program|created automatically by mail delivery software"
    r"|this is the mail system at host|delivery has failed to these recipients"
    r"|your message (?:to \S+ )?couldn't be delivered|your message wasn't delivered"
    r"|following addresses had permanent fatal errors|transcript of session follows"
    r"|not listed in (?:the )?(?:domino|public name & address book|names)"
    r"|did not reach some or all of the intended recipients|message could not be delivered"
    r"|unable to deliver (?:your )?message|delivery to the following recipients? (?:failed|has)"
    r"|following addresses did not receive|the original message was received at"
    r"|was undeliverable to the following|failed recipients|undeliverable mail"
    r"|this is a delivery status notification|permanent delivery failure"
    r"|permanent fatal delivery errors|wasn't able to deliver|was not delivered to"
    r"|could not be delivered to|could not deliver|this report relates to a message"
    r"|an error has occurred while attempting to deliver|this is the mailer-daemon"
    r"|i'm sorry to have to inform you|remote host said: 5\d\d|delivery failed \d+ attempts"
    r"|user mailbox exceeds|address not found|message not delivered yet"
    r"|diese nachricht wurde automatisch (?:von einem|vom) mail-?server"
    r"|konnte nicht zugestellt werden|konnte(?:n)? nicht (?:an folgende )?(?:empfänger )?"
    r"zugestellt|übermittlung an folgende empfänger|fehler bei der zustellung"
    r"|folgende\(?r?\)? empfänger konnte|nicht zugestellt werden|wurde nicht an \S+ zugestellt"
    r"|ist fehlgeschlagen|not yet been delivered"
    # Exchange 5.5 / 2000 / 2003: "Your message ... did not reach the following recipient(s)"
    r"|did not reach the following recipient", re.IGNORECASE)

_LINE_RECIPIENT = [
    re.compile(rf"^[ \t]*<({ADDRESS})>:?[ \t]*(?:$|\S)", re.MULTILINE),  # Postfix, qmail
    re.compile(rf"(?:final|original)-recipient:[ \t]*(?:rfc822|utf-8)?;?[ \t]*<?({ADDRESS})",
               re.IGNORECASE),
    re.compile(  # Microsoft 365, Gmail, Sun, SMTP32, generic English and German
        rf"(?:wasn't delivered to|couldn't be delivered to|could not be delivered to:?"
        rf"|could not deliver (?:mail|message) to|your message to|delivery to|failed to deliver"
        rf" to|undeliverable to|recipient address:|delivery failed \d+ attempts:"
        rf"|mailbox exceeds allowed size:|unknown user:|nachricht an|e-mail an"
        rf"|nicht an|empfänger:|recipient:|your message to:)[ \t]*<?({ADDRESS})>?",
        re.IGNORECASE),
    re.compile(rf"\(({ADDRESS})\) not listed in", re.IGNORECASE),  # Domino
]
_LIST_TRIGGER = re.compile(
    r"(?:following address(?:es|\(es\))?(?: failed| had permanent fatal errors)?"
    r"|following recipients?(?:\(s\))?|failed permanently|has been delayed"
    r"|delivery has failed to these recipients or groups|could not be reached"
    r"|was not delivered to|did not receive a copy of your message"
    r"|not yet been delivered is|undeliverable to the following|recipients failed"
    r"|did not reach the following recipient|-+ ?failure reasons ?-+"
    r"|for the following\s+list of recipients"
    r"|konnte nicht (?:an folgende empfänger )?zugestellt werden|nicht zugestellt werden"
    r"|folgende(?:n)? (?:empfänger|adressen?)|an folgende empfänger"
    r"|folgende\(r\) empfänger)[^\n]*\n",
    re.IGNORECASE)
# The subjects of out-of-office and other automatic replies (Exchange's "Automatic reply:"
# in the languages of the mailbox that sent it, the words mail programs and webmailers put
# in front): such a reply is never a delivery report, whatever its text says.
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?\[?(?:auto(?:matic|matische)?[ _-]?(?:reply|response|antwort)"
    r"|automatische antwort|abwesenheits(?:notiz|meldung|nachricht)|out[ -]of[ -](?:the[ -])?"
    r"office|autoreply|autosvar|réponse automatique|respuesta automática"
    r"|risposta automatica|automatisch antwoord|odpowiedź automatyczna|ooo:"
    r"|automatisk(?:t)? svar|automaattinen vastaus|automatická odpověď|automatická odpoveď"
    r"|automatyczna odpowiedź|resposta automática|răspuns automat|automatski odgovor"
    r"|samodejni odgovor|automatikus válasz|otomatik yan[ıi]t|automaatvastus"
    r"|automātiskā atbilde|automatinis atsakymas|αυτόματη απάντηση"
    r"|автоматический ответ|автоматична відповідь|автоматичен отговор|автоматски одговор"
    r"|自动回复|自動回覆|自動回复|自動応答|自動返信|자동 회신|자동 응답"
    r"|תשובה אוטומטית|رد تلقائي|ตอบกลับอัตโนมัติ|trả lời tự động|balasan automatik"
    r"|balasan otomatis"
    # "away" words of out-of-office replies set up by hand (Outlook rules, webmail vacation
    # responders), only as the subject's leading word with a colon ("Abwesend: Rechnung"),
    # or as the whole phrase ("Fuera de la oficina")
    r"|(?:abwesend|abwesenheit|afwezig|ausente|nieobecn[a-ząćęłńóśźż]*|frånvarande|frånvaro"
    r"|fraværende|fravær|fraværsmelding|poissa|poissaolo|on vacation|on holiday|im urlaub"
    r"|en congé)\s*:"
    r"|absen(?:t|te|ce) du bureau|fuera de (?:la )?oficina|fuori (?:sede|ufficio)"
    r"|fora do escritório|niet op kantoor|buiten kantoor|außer haus|ausser haus"
    r"|nicht im büro)(?!\w)",  # a whole phrase: "Automatische Antwortfunktion" is none
    re.IGNORECASE,
)
_LIST_LINE = re.compile(rf"^[ \t>*-]*['\"<]?({ADDRESS})['\">]?(?:[ \t:(,]|$)", re.MULTILINE)
_SENDMAIL_ERROR = re.compile(
    rf"^[ \t]*5\d\d[ \t]+(?:5\.\d{{1,3}}\.\d{{1,3}}[ \t]+)?<({ADDRESS})>\.\.\.", re.MULTILINE)
_RCPT_TO = re.compile(rf"rcpt to:[ \t]*<?({ADDRESS})>?", re.IGNORECASE)
# a transcript line may say who spoke: ">>> RCPT TO:" / "<<< 550" (sendmail), "Sent <<< RCPT
# TO:" / "Received >>> 550" (Trend Micro InterScan)
_SPOKE = r"(?:(?:sent|received)[ \t]*)?(?:>>>|<<<)[ \t]*"
_RCPT_LINE = re.compile(rf"^[ \t]*(?:{_SPOKE})?rcpt to:[ \t]*<?{ADDRESS}",
                        re.IGNORECASE | re.MULTILINE)
_REFUSAL_LINE = re.compile(rf"^[ \t]*(?:{_SPOKE})?5\d\d(?:[ -]|$)",
                           re.IGNORECASE | re.MULTILINE)


def smtp_refusal(text: str) -> bool:
    """The text reports a server's refusal of a recipient: a ``RCPT TO:`` line naming an
    address and a 5xx reply line (Verizon's gateway, sent from ``post_master@`` under
    "Re:<subject>": "550 - Requested action not taken … RCPT TO: 5551234@…")."""
    head = text[:8000]
    return bool(_RCPT_LINE.search(head) and _REFUSAL_LINE.search(head))


def text_recipients(text: str, action: str) -> tuple[str, ...]:
    found: list[str] = []
    for pattern in _LINE_RECIPIENT:
        for match in pattern.finditer(text):
            _add(found, match.group(1))
    for trigger in _LIST_TRIGGER.finditer(text):
        following = text[trigger.end():trigger.end() + 3000].split("\n")
        collected = False
        for line in following[:15]:
            address = _LIST_LINE.match(line)
            if address:
                _add(found, address.group(1))
                collected = True
            elif collected and line.strip() and not line.startswith((" ", "\t")):
                break
    if not found and action == "failed":
        for match in _RCPT_TO.finditer(text):  # an SMTP transcript names the refused one
            _add(found, match.group(1))
    return tuple(found)


def sendmail_errors(text: str) -> tuple[str, ...]:
    """The recipients of sendmail's permanent errors, one line each ("554 <a@b>... Host
    unknown", "550 <c@d>... User unknown"): each refused address, not only the one a
    transcript's ``RCPT TO`` shows."""
    found: list[str] = []
    for match in _SENDMAIL_ERROR.finditer(text):
        _add(found, match.group(1))
    return tuple(found)


def _add(found: list[str], address: str) -> None:
    address = address.strip().strip("<>'\"").rstrip(".")
    if address and address.lower() not in (a.lower() for a in found):
        found.append(address)
