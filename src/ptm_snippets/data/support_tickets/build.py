"""Build the support-tickets dataset (train.jsonl, test.jsonl, heldout_words.txt).

All text in this file was written by hand for this project (MIT licence, same
as the repository). The output mixes two sources:

* fully hand-written messages (the ``HAND_*`` lists), used as they are;
* messages generated from hand-written templates plus slot fillers, with
  random greetings, sign-offs, tone and the odd typo, for extra variety.

There are three kinds of text:

* ``train``      - training vocabulary (templates ``TRAIN_TEMPLATES`` etc.);
* ``familiar``   - new test messages in the same vocabulary as training;
* ``novel``      - test messages whose key words are synonyms/paraphrases that
                   never occur in the training file (``HELDOUT`` below).  The
                   novel templates and fillers are kept strictly separate from
                   the training ones, and the script checks that no held-out
                   word leaks into train (or familiar) text.

The script is deterministic: running it again rewrites the same files.

    .venv/bin/python src/ptm_snippets/data/support_tickets/build.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 20240611
HERE = Path(__file__).resolve().parent
LABELS = ["billing", "delivery", "account", "technical"]

N_TRAIN_PER_CLASS = 325
N_FAMILIAR_PER_CLASS = 55
N_NOVEL_PER_CLASS = 55
FAMILIAR_EVERY = 5

# ---------------------------------------------------------------------------
# Held-out vocabulary: appears in "novel" test messages, never in train.
# ---------------------------------------------------------------------------
HELDOUT = {
    "billing": [
        "billed",
        "bill",
        "reimbursement",
        "reimburse",
        "reimbursed",
        "receipt",
        "debited",
        "debits",
        "deducted",
        "overcharged",
        "membership",
        "voucher",
        "funds",
        "surcharge",
        "tariff",
        "pricing",
        "installments",
        "chargeback",
        "tax",
        "yearly",
        "quarterly",
        "mastercard",
        "amex",
        "klarna",
    ],
    "delivery": [
        "shipment",
        "shipments",
        "consignment",
        "dispatched",
        "carrier",
        "postman",
        "mailman",
        "postie",
        "transit",
        "overdue",
        "delayed",
        "dented",
        "crushed",
        "smashed",
        "vanished",
        "porch",
        "zip",
        "packet",
        "packets",
        "carton",
        "letterbox",
        "abroad",
        "relocated",
        "reroute",
        "freight",
    ],
    "account": [
        "credentials",
        "passcode",
        "passphrase",
        "authenticate",
        "authenticator",
        "suspended",
        "frozen",
        "barred",
        "compromised",
        "hijacked",
        "intruder",
        "deactivate",
        "erase",
        "avatar",
        "nickname",
        "handle",
        "inbox",
        "recover",
        "recovery",
        "otp",
        "mobile",
    ],
    "technical": [
        "glitch",
        "glitching",
        "glitchy",
        "malfunctioning",
        "unresponsive",
        "sluggish",
        "laggy",
        "lag",
        "hangs",
        "stalls",
        "software",
        "program",
        "portal",
        "webpage",
        "interface",
        "display",
        "firefox",
        "safari",
        "tablet",
        "rebooted",
        "quits",
        "garbled",
        "jumbled",
        "version",
        "outage",
        "pixelated",
        "render",
        "timeout",
    ],
}
ALL_HELDOUT = [w for c in LABELS for w in HELDOUT[c]]

# ---------------------------------------------------------------------------
# Shared fillers (class-neutral wrappers).
# ---------------------------------------------------------------------------
GREETINGS = [
    "Hi,",
    "Hello,",
    "Hi there,",
    "Hey,",
    "Hello team,",
    "Good morning,",
    "Dear support,",
    "Hiya,",
    "Morning,",
    "Hi again,",
    "Good afternoon,",
    "Hello there!",
    "Hey guys,",
]
SIGNOFFS = [
    "Thanks.",
    "Thank you!",
    "Thanks in advance.",
    "Please help.",
    "Please sort this out.",
    "Cheers.",
    "Any help appreciated.",
    "Regards, Sam",
    "Thx",
    "Let me know asap.",
    "Appreciate it.",
    "Thanks, Priya",
    "Many thanks.",
    "Kind regards.",
    "Ta.",
    "Hope you can help.",
    "Waiting for your reply.",
    "- Tom",
]
ANGRY = [
    "This is ridiculous.",
    "Really not happy.",
    "Sort it out!",
    "Unacceptable.",
    "Third time I'm writing about this.",
    "I'm losing patience.",
    "Seriously??",
    "Absolutely fed up.",
    "Not good enough.",
    "I expect a reply today.",
]
RAMBLE = [
    "I've been shopping with you for years and never had an issue, but",
    "Sorry if this is the wrong place to ask, but",
    "Not sure who to talk to about this, but",
    "So, long story short,",
    "I hate to complain, but",
    "Quick one:",
    "Okay so",
    "Sorry to bother you again, but",
    "My daughter usually deals with this stuff, but",
    "I'm writing on behalf of my mum:",
]

# ---------------------------------------------------------------------------
# Slot fillers. TRAIN_* are used for train and familiar; NOVEL_* only for novel.
# ---------------------------------------------------------------------------
# (lower, higher) prices for templates that compare two amounts: {lo} {hi}.
PRICE_PAIRS: list[tuple[str, str]] = [
    ("£12.99", "£14.99"),
    ("$49", "$59"),
    ("€30", "€36"),
    ("£7.50", "£9"),
    ("$120", "$140"),
    ("£54.20", "£64.20"),
    ("€89.99", "€99.99"),
    ("£4.99", "£5.99"),
    ("$15", "$19"),
]
TRAIN_SLOTS: dict[str, list[str]] = {
    "product": [
        "the Nimbus headphones",
        "my Aero kettle",
        "the Trailblazer backpack",
        "the Vela running shoes",
        "the Orbit desk lamp",
        "a Luma yoga mat",
        "the Kestrel blender",
        "the Pico smartwatch",
        "two Harbor mugs",
        "the Fjord rain jacket",
        "the Sonar speaker",
        "a Quill notebook set",
        "the Atlas office chair",
        "a Willow throw blanket",
        "the Ember coffee grinder",
        "the Cobalt phone case",
        "a set of Birch frames",
        "the Drift sunglasses",
    ],
    "date": [
        "on Monday",
        "last Friday",
        "yesterday",
        "on the 14th",
        "on 3 March",
        "two days ago",
        "last week",
        "this morning",
        "on Tuesday",
        "at the weekend",
        "on 28 November",
    ],
    "since": [
        "Monday",
        "last Friday",
        "yesterday",
        "the 14th",
        "3 March",
        "last week",
        "this morning",
        "the weekend",
    ],
    "day": ["Friday", "the 20th", "next Monday", "3 March", "Saturday"],
    "duration": [
        "two weeks",
        "10 days",
        "almost a month",
        "over three weeks",
        "a week",
        "five days",
        "nearly two weeks",
        "six weeks",
    ],
    "amount": [
        "£12.99",
        "$49",
        "€30",
        "£7.50",
        "$120",
        "£54.20",
        "€89.99",
        "$15",
        "£199",
        "£4.99",
        "$36.40",
    ],
    "paymethod": [
        "PayPal",
        "my Visa",
        "my debit card",
        "Apple Pay",
        "my credit card",
        "a gift card",
        "my business card",
    ],
    "code": ["SPRING20", "WELCOME10", "FREESHIP", "SAVE15", "VIP25", "BDAY5"],
    "plan": [
        "premium plan",
        "family plan",
        "Pro plan",
        "basic plan",
        "annual plan",
        "monthly plan",
        "student plan",
    ],
    "country": [
        "Ireland",
        "Canada",
        "Germany",
        "Norway",
        "Australia",
        "Spain",
        "the Netherlands",
        "Poland",
    ],
    "screen": [
        "the basket page",
        "the orders page",
        "the home page",
        "the search results",
        "my wishlist",
        "the sale section",
        "the reviews tab",
        "the settings menu",
        "the product page",
        "the returns form",
    ],
    "device": [
        "my iPhone",
        "my Samsung",
        "my Pixel 7",
        "Android",
        "my Motorola",
        "my iPad",
        "an old Huawei phone",
        "iOS 17",
    ],
    "browser": ["Chrome", "Edge", "Opera"],
    "errcode": ["500", "404", "503", "403", "502"],
    "errname": ["E-1042", "ERR_27", "X-300", "P-17"],
}
NOVEL_SLOTS: dict[str, list[str]] = {
    "product": TRAIN_SLOTS["product"],
    "date": [
        "on Wednesday",
        "on 21 June",
        "the day before yesterday",
        "on Sunday",
        "last Thursday",
        "on the 2nd",
    ],
    "since": ["Wednesday", "21 June", "the 2nd", "last Thursday"],
    "duration": [
        "a fortnight",
        "eleven days",
        "more than a month",
        "nine days",
        "a good three weeks",
    ],
    "amount": ["£23", "$64.50", "€17.80", "£310", "$8.25", "€142"],
    "paymethod": ["my Mastercard", "my Amex", "Klarna", "my Mastercard debit"],
    "code": ["SUMMER5", "THANKYOU", "EXTRA12"],
    "nplan": [
        "membership",
        "family membership",
        "premium membership",
        "yearly membership",
        "gold membership",
    ],
    "country": ["Portugal", "Japan", "Mexico", "Iceland", "Greece"],
    "city": ["Leeds", "Bristol", "the other side of town", "Glasgow"],
    "zip": ["10013", "94110", "60614", "30301"],
    "screen": [
        "the gallery",
        "the favourites list",
        "the deals section",
        "the product comparison",
        "the recommendations panel",
        "the order history",
    ],
    "device": [
        "my tablet",
        "my Chromebook",
        "my MacBook",
        "an older tablet",
        "my Windows PC",
    ],
    "browser": ["Firefox", "Safari", "Brave"],
    "year": ["2019", "2017", "2020"],
}

# ---------------------------------------------------------------------------
# Templates. [a|b] picks one alternative, {slot} fills from the slot lists.
# ---------------------------------------------------------------------------
TRAIN_TEMPLATES = {
    "billing": [
        "I was charged twice for {order}[.|, can you fix it?|. Please refund one of them.|, only one payment should have gone out.]",
        "Why is there a {amount} charge on my [card|credit card|bank statement] {date}?",
        "I cancelled my subscription {date} but you still took {amount}[.| from my card.| again.]",
        "Still waiting for my refund on {product}, it's been {duration}.",
        "Can I get an invoice for {order}? [I need it for expenses.|My company needs it.|It has to show the VAT.]",
        "The invoice for {order} has the wrong [company name|address on it|VAT number], can you send a corrected one?",
        "My card was declined at checkout but the money still left my account[.| {date}.]",
        "The promo code {code} didn't work and I paid full price. [Can you refund the difference?|Can I get the discount back?]",
        "How much is the {plan} [per month|a year|after the free trial]?",
        "You charged me for the annual plan but I [picked|chose|signed up for] monthly.",
        "I returned {product} {duration} ago and haven't seen the refund yet.",
        "My free trial was supposed to end without charging me, but I got charged {amount}.",
        "Please cancel my subscription and stop charging {paymethod}.",
        "Is there a student discount on the {plan}?",
        "I paid with {paymethod} but the order says payment pending.",
        "The price went up from {lo} to {hi} without any warning. Why?",
        "Can I switch to a cheaper plan halfway through the month? Do I get money back?",
        "Refund {order} please, I was charged {hi} instead of {lo}.",
        "Do you accept {paymethod}?",
        "I got a refund for the wrong amount. I was owed {hi}, not {lo}.",
        "Where is my money?? Returned {product} {duration} ago.",
        "Two payments of {amount} went out for the same order {date}.",
        "Can you change the card on my subscription to {paymethod}?",
        "I need copies of all my invoices from [last year|2023|the last six months] for my accountant.",
        "Why was I charged a {amount} fee for [paying by card|using PayPal|a late payment|cancelling]?",
        "The checkout total was {lo} but my bank shows {hi}.",
        "My subscription renewed automatically {date} and I didn't want it to. Can I get a refund?",
        "Is VAT included in the price [shown|on the product page|for the {plan}]?",
        "The coupon from your newsletter says [20%|15%|10%] off but the discount never showed up.",
        "I was promised a partial refund because {product} arrived damaged, but the money never came through.",
        "I don't recognise a payment of {amount} to your company {date}.",
        "Refund status for {order}?",
        "Your gift card balance shows {lo} but it should be {hi}.",
        "Can I get my money back for the [months|weeks] I didn't use[?| on the {plan}?]",
        "The price on the product page was {lo} but I was charged {hi}.",
        "I'd like to upgrade to the {plan}, will I be charged the full price straight away?",
        "Please send the invoice for {order} to my work email instead.",
        "My bank flagged a {amount} charge from you as suspicious, was it really you?",
        "Money was taken from {paymethod} but the order was never placed.",
        "I was told shipping would be free but I paid [£4.99|$6|€3.50|£7.50] for it.",
        "How do I get a refund for [a cancelled order|a gift I didn't want|an unopened item]?",
        "You still owe me {amount} from the refund on {order}.",
        "The discount only applied to one item instead of the whole basket.",
        "Why did my monthly payment go up [this month|from {lo} to {hi}]?",
        "Can I split the payment for {order} across two cards?",
        "I was charged in [dollars|euros] instead of pounds and my bank added a fee.",
        "Please stop the auto-renewal on my {plan}, I only wanted one month.",
        "charged twice [again|for one order|on {paymethod}]",
        "Refund not received for {order}. [It's been {duration}.|What's the hold up?]",
        "I was charged {hi} for {product} but it was on sale for {lo}.",
    ],
    "delivery": [
        "Where is my parcel? {order} was supposed to arrive {date}.",
        "Tracking hasn't updated since {since}[.|, is it lost?|. Any news?]",
        "The courier says they delivered {product} {date} but nothing was at my door.",
        "{product} arrived damaged, the box was [completely squashed|ripped open|soaking wet].",
        "Can I change the delivery address for {order}? I've [moved|just moved house|entered my old one].",
        "My package is late, it was due {date}.",
        "The tracking number you sent for {order} doesn't work on the courier's site.",
        "Do you ship to {country}?",
        "How long does standard shipping take to {country}?",
        "Only half of my order arrived, I'm still missing {product}.",
        "I got someone else's parcel instead of {product}.",
        "The driver left my package with a neighbour I don't know[.| {date}.]",
        "Can you hold {order} at the depot? I'm away until {day}.",
        "It says delivered {date} but I never got it.",
        "When will {order} be shipped? It's been {duration}.",
        "The parcel was left out in the rain and {product} got ruined.",
        "My order has been stuck at the warehouse for {duration} according to tracking.",
        "Is next-day delivery available to postcode {postcode}?",
        "I typed the wrong house number for {order}, can the courier still find me?",
        "Wrong item in the box. I ordered {product} but got something else.",
        "Can I pick up {order} from a locker instead of having it brought to my house?",
        "The courier left a card saying I was out, but I was home {date}.",
        "[The Birch frames|The Orbit desk lamp|My Aero kettle|The Harbor mugs] came with the glass broken inside the package.",
        "Parcel lost. {order}. Please resend.",
        "My package has been 'out for delivery' since {since}.",
        "Which courier do you use for orders to {country}?",
        "Can the driver leave {order} behind the side gate if I'm not in?",
        "The box arrived open and there was no sign of {product}.",
        "My parcel went to my old address even though I updated it[.| {date}.]",
        "Is there any way to speed up shipping on {order}?",
        "The tracking link shows my parcel in another [city|country].",
        "I needed {product} by {day} for a birthday and nothing has come yet.",
        "Can I send back {product} by dropping it at a post office?",
        "You sent me two [blenders|lamps|backpacks|rain jackets] but I only ordered one.",
        "Still no parcel[.|!|. Ordered {duration} ago.]",
        "The van drove straight past my house without stopping {date}.",
        "I need {order} sent to my office address instead.",
        "[My order|{order}] shows as shipped but there's no tracking number.",
        "{order} hasn't arrived[.|, it's been {duration}.| and the tracking hasn't moved.]",
        "The parcel for {order} was signed for by someone called Dave. There is no Dave here.",
        "Can you tell me when {product} will be back in the warehouse and sent out?",
        "Do you deliver to {country} and how much does it take?",
        "The courier keeps trying to deliver while I'm at work. Can I pick a day?",
        "The package with {product} had a huge hole in the side.",
        "Is it normal for shipping to {country} to take {duration}?",
        "{order} was left on my doorstep in the pouring rain.",
        "My parcel is sitting at the sorting centre and hasn't moved since {since}.",
        "The label on {order} has the wrong postcode.",
    ],
    "account": [
        "I can't [log in|sign in|get into my account], it says my password is wrong [but I just reset it|even though I reset it {date}|but I'm sure it's right|after the reset].",
        "How do I change the email [address on my account|I use to log in|linked to my profile]?",
        "I'm not getting the [2FA|two-step|login] code[s|] by text [anymore|since {since}|since I switched networks|on {device}].",
        "Please delete my [account|profile] and all my [data|details|order history][.| by the end of the week.| as soon as possible.|, I won't be using it again.]",
        "I forgot my password and the reset [link|email] never [arrives|comes through|shows up][.|, I've checked spam.| no matter how many times I try.]",
        "My account got locked after [too many login attempts|I typed my password wrong a few times|a failed sign in {date}].",
        "I think someone hacked my account, my [password|email|phone number] was changed {date}.",
        "Can I change my username[?| to my real name?| without making a new account?| to something shorter?]",
        "I got a new [phone|number|SIM] and now I can't get the verification codes.",
        "How do I turn [off|on] two-step verification[?| on {device}?| for my login?]",
        "I have two accounts with different emails, can you [merge them|combine the order history|close the older one]?",
        "I can't log in to see my invoice for {order}.",
        "I can't sign in to check the tracking on {order}.",
        "I want to update the [phone number|name|date of birth] on my profile.",
        "The password reset email goes to an [old address|old work email|email] I can't [open|access|get into] anymore.",
        "I never created an account with you but I'm getting [login codes|password reset emails|welcome emails].",
        "How do I change the name shown on my [profile|reviews|account]?",
        "My account was closed {date} and I don't know why.",
        "How do I stop the marketing emails? I can't find the setting in my [profile|account settings].",
        "The security questions I set up [don't seem to work anymore|won't accept my answers|have disappeared from my profile].",
        "Someone is using my email to [sign up|create accounts|log in] on your site.",
        "Can I share my login with my [partner|husband|wife|son]?",
        "I changed my email {date} but the confirmation link says [expired|invalid].",
        "Locked out [again|of my account][.|!| after the password change.| since {since}.]",
        "How do I log out of all devices? I think my [old laptop|ex's phone|old iPad] is still signed in.",
        "What happens to my [order history|reviews|saved addresses] if I delete my profile?",
        "My login stopped working after I changed my [email|password|phone number].",
        "Reset link expired[.|, can you send another?| again.| before I even opened it.]",
        "I'm trying to sign in with my [work|personal|old] email but it says no account exists.",
        "Can you remove the old phone number from my profile? The [codes|login texts] still go there.",
        "I can't log in on {device}, it keeps saying [wrong password|my details are incorrect].",
        "Please change my account email to the one I'm writing from[.|, the old one is closed.|, thanks.]",
        "[Two-step verification|2FA|Login] codes arrive too late and are always expired.",
        "How do I set a new password if I don't [know|remember] the old one?",
        "Why was my account locked {date}?",
        "I keep getting 'invalid username or password' even after resetting it[.| twice.| on {device}.]",
        "Somebody changed the email on my account {date}, it wasn't me.",
        "I want to delete my profile but keep my [reviews|order history|invoices]. Possible?",
        "Can you unlock my account? I'm locked out [again|since {since}|after a few wrong tries].",
        "I can't sign in because my verification code goes to my old [phone|number|email].",
        "My account is showing someone else's [name|phone number|date of birth].",
        "How can I [download|get] a copy of the personal data you hold on me?",
        "Please remove my account, I [don't use it|made it by mistake|have another one].",
        "I never got the email to confirm my new account[.| after signing up {date}.]",
        "Is there a way to sign in without a password, like a code by [email|text]?",
        "Hacked account. [Password changed, can't get in.|Need help now.|Someone changed my email.]",
        "How do I make my profile private so my name doesn't show on my [reviews|wishlist]?",
        "I'd like to change my login email but the form says it's already in use.",
        "Every time I [sign in|log in] on {device} it asks me to verify my email again.",
        "My [husband|partner|sister] made an account with my email address. Can you remove it?",
        "Can I log in with [Google|Apple|Facebook] instead of a password?",
        "I need to change the [phone number|email] for my two-step verification but I can't get in.",
    ],
    "technical": [
        "The app crashes every time I open {screen}.",
        "I get a {errcode} error when I try to [check out|add something to the basket|open my orders|leave a review].",
        "The website is really slow [today|this morning|on {device}], pages take ages to load.",
        "The search bar returns nothing, even for [products I know you sell|'shoes'|things I bought before].",
        "The 'add to basket' button does nothing in {browser}.",
        "After the latest update the app just shows a blank white screen on {device}.",
        "Your checkout page keeps spinning and never finishes[.| in {browser}.| on {device}.]",
        "Images aren't loading on {screen}.",
        "The filter by [size|colour|brand|price] doesn't work, it shows everything.",
        "The app freezes on {device} when I scroll through {screen}.",
        "Notifications from the app stopped working after I updated[.| {device}.| {date}.]",
        "I get 'something went wrong' whenever I try to [leave a review|save an item|edit my basket].",
        "The page for {order} shows an error instead of my order details.",
        "Dark mode makes the text unreadable in the app[.| on {device}.]",
        "The invoice download button gives me error {errcode}.",
        "The tracking map in the app never loads on {device}.",
        "The login button doesn't respond in {browser}, nothing happens when I click it.",
        "Your site won't load at all on {device}.",
        "The app drains my battery even when it's closed[.| on {device}.]",
        "I can't scroll past the first few items on {screen}.",
        "The app keeps crashing on {device}[.|, please fix it.|, every single time.]",
        "I reinstalled the app [twice|three times] and it still crashes on start[.| on {device}.]",
        "Videos on the product page don't play in {browser}.",
        "Error code {errname} when placing an order.",
        "The wishlist keeps emptying itself[.| whenever I close the app.]",
        "Prices show as 'NaN' on {screen}.",
        "Pages keep reloading on their own in {browser}.",
        "The app is so slow on {device} it's basically unusable.",
        "The site just shows a white page after I click on {screen}.",
        "The 'apply' button on {screen} is greyed out and can't be clicked.",
        "The app closes itself whenever I try to [take a photo for a review|scan a barcode|share a product].",
        "Search results keep showing the same three products whatever I type[.| in {browser}.]",
        "Your website looks broken on {device}, everything overlaps.",
        "The map for choosing a pickup point doesn't load[.| in {browser}.| on {device}.]",
        "Since the update I can't open {screen} in the app.",
        "The app shows an error when I try to save my [address|card details|preferences].",
        "Every time I open {screen} the app freezes for about a minute.",
        "Clicking 'next' on the checkout form does nothing in {browser}.",
        "Is the site down? I'm getting a {errcode} on every page.",
        "The app won't install on {device}.",
        "Buttons on {screen} are too small to tap and half of them don't work.",
        "The text in the app overlaps the images on {device}.",
        "Bug: the quantity box won't let me type more than [9|one digit].",
        "The site keeps throwing a {errcode} error when I search.",
        "App freezes, then crashes. {device}.",
        "Scrolling on {screen} is really jumpy and slow.",
        "The product images are blurry and won't zoom on {device}.",
        "When I tap {screen} the app goes to a blank screen.",
    ],
}

NOVEL_TEMPLATES = {
    "billing": [
        "I've been billed [twice|double] for {order}[, please reimburse one of them.|. How do I get reimbursed?|.]",
        "Where's my reimbursement for {product}? I sent it back {duration} ago.",
        "Could I get a receipt for {order}? [My employer needs one.|It's for my tax return.|It's for an expense claim.]",
        "{amount} was debited from {paymethod} [twice|without my permission|{date}] and I don't know why.",
        "My {nplan} renewed and I was billed {amount} [without warning|even though I'd cancelled].",
        "The voucher {code} wasn't accepted, so I was overcharged by {amount}.",
        "Why does my latest bill include a {amount} surcharge?",
        "What's the [yearly|quarterly] pricing for the {nplan}?",
        "I'd like the funds [returned|put back] on {paymethod}, not as store credit.",
        "You deducted {amount} for a {nplan} I never wanted.",
        "The tax on my receipt for {order} looks wrong.",
        "I was overcharged for {product}, the receipt says {amount}.",
        "Still no reimbursement for {order} after {duration}.",
        "Can my bill be split into [two|three|monthly] installments[?| please?| instead of one go?]",
        "Is there a cheaper tariff than the {nplan}?",
        "Three debits from you hit {paymethod} {date}, but I only bought one thing.",
        "[Billed|Overcharged] again. {order}.",
        "My {nplan} fee was deducted {date}, a week earlier than usual.",
    ],
    "delivery": [
        "My shipment [for|of] {product} is overdue, it was due {date}.",
        "Has {order} been dispatched yet? [It's been {duration}.|I need it by Friday.|]",
        "The carrier claims they left {product} on my porch {date}, but there's nothing there.",
        "{product} turned up [dented|smashed] and the carton was [torn|soggy|crushed].",
        "My shipment has been in transit for {duration}[ with no news.|, is it stuck somewhere?|.]",
        "The postman [left a slip|said nobody answered] {date} but I was in all day.",
        "Can you reroute {order} to my new flat? I've relocated [to {city}|this month].",
        "My packet [seems to have|has] vanished [somewhere en route|after leaving the carrier's hub|between the hub and my house].",
        "Do you send shipments abroad, for example to {country}?",
        "{order} got delayed [again|for the third time|without any explanation].",
        "How long is transit to zip code {zip}?",
        "The mailman put my shipment in the wrong letterbox {date}.",
        "Why haven't you dispatched {product}? I ordered {duration} ago.",
        "The carrier says the shipment was handed to a [concierge|receptionist|security guard], but we don't have one.",
        "Is freight to {country} possible for something as big as [an office chair|a wardrobe|a sofa]?",
        "The postie left {product} in the rain and the carton fell apart.",
        "Only one packet turned up {date}, the other has vanished.",
        "My shipment is delayed [again |][and|but] nobody will tell me why.",
    ],
    "account": [
        "My credentials [stopped working|were rejected] {date}[ and I haven't changed anything.|.|, what's going on?]",
        "The one-time passcode [never reaches my inbox|turns up after it has expired|goes to my old mobile].",
        "I can't authenticate on {device}, the authenticator [codes are always rejected|keeps saying invalid].",
        "Please [erase my personal data|deactivate my user ID][ and confirm when it's done.| as soon as possible.|.]",
        "Why has my access been suspended[ since {since}|]?",
        "My user ID is frozen after [three|a few|too many] wrong passcode attempts.",
        "I think my credentials were compromised, [there's a nickname I don't recognise on my reviews|I'm seeing sign-ons from abroad].",
        "How do I [change|swap] my [avatar|nickname|handle]?",
        "The recovery [link|message] for my passphrase [never comes|has expired|doesn't work].",
        "I'm barred from getting in[ since {since}|]. What did I do?",
        "Is the authenticator [compulsory|mandatory|required], or can I get an OTP by [text|phone call] instead?",
        "Someone hijacked my [user ID|credentials] and changed my [contact details|nickname|avatar].",
        "Can I recover a user ID I haven't touched since {year}?",
        "My new mobile doesn't get the OTP [messages|texts] at all.",
        "There's an intruder using my credentials, please [freeze everything|help me get control back].",
        "How do I recover access if I no longer have that [mobile|mobile number]?",
        "Nothing arrives in my inbox when I ask for a [recovery link|new passcode].",
        "Could you deactivate me as a user and erase my details{date_suffix}?",
    ],
    "technical": [
        "The software keeps [glitching|stalling] whenever I open {screen}.",
        "Your portal is [sluggish|unresponsive|laggy] [today|this evening|on {device}].",
        "In {browser} the interface looks [jumbled|garbled|pixelated].",
        "It quits unexpectedly on {device} [every time I scroll|when I open {screen}|after a few seconds].",
        "Everything is [laggy|sluggish] since the newest version[.| on {device}.| came out.]",
        "There's a glitch in {screen} [that empties my basket|where nothing responds|that shows garbled text].",
        "The webpage hits a timeout [whenever|every time] I [try to finish an order|open {screen}].",
        "I rebooted {device} and the software still hangs.",
        "{screen} is malfunctioning in {browser}.",
        "The program hangs on a grey display [after launching|when I tap anything|on {device}].",
        "The interface is unresponsive on {device}, clicks and taps don't register.",
        "Is there an outage? The portal [won't respond|keeps timing out|is unresponsive for me].",
        "Since the last version, {screen} won't render properly.",
        "The webpage stalls halfway and never finishes on {device}.",
        "{browser} shows a glitchy mess when I open {screen}.",
        "Typing in the search field is laggy on {device}.",
        "The display goes [black|grey|all white] whenever I open {screen} in the software.",
        "Glitch report: {screen} hangs in {browser}.",
    ],
}

# ---------------------------------------------------------------------------
# Fully hand-written messages (used verbatim).
# ---------------------------------------------------------------------------
HAND_TRAIN = {
    "billing": [
        "So I signed up for the free trial in January, set a reminder, cancelled on day six and got the confirmation email, and you've still taken £9.99 from my card every month since. I want it all back.",
        "Hi, I just noticed two identical charges from you on my credit card statement. I only placed one order. Could you look into it?",
        "refund??? anyone there??",
        "I returned the shoes three weeks ago and your own tracking shows you received them. Where is my refund?",
        "Can you tell me when my subscription renews? I want to cancel before I get charged again.",
        "Your invoice doesn't include my VAT number, which I need for my business records.",
        "Why am I paying more than my friend for exactly the same plan?",
        "I was charged for an order I cancelled within ten minutes of placing it.",
        "Hello, do you offer any discount for buying in bulk? We'd need around 40 units for the office.",
        "The payment failed three times but my bank says the money was taken each time. So now I'm out 90 quid and have no order.",
        "Could I get the refund as store credit instead of back to my card?",
        "I've been charged a monthly fee even though I'm on the free plan.",
        "hey so my card got charged twice yesterday?? pls fix",
        "I'd like an itemised invoice please, the one I got only shows the total.",
        "My employer is paying for this, can the invoice be made out to the company instead of me?",
        "You refunded the item but not the shipping I paid for. Is that right?",
        "Good afternoon. I was under the impression the price included VAT, but an extra 20% was added at checkout.",
        "The sale price was shown in the basket but the full price was charged. Please refund the difference.",
        "Is it possible to pause my subscription for two months instead of cancelling it?",
        "Your app charged me for an in-app purchase I never tapped on.",
        "I still havent recieved the money back for the jacket I sent back, and nobody is answering my emails.",
        "How come the refund is £5 less than what I paid?",
        "The annual plan was advertised at £59 but I was charged £79.",
        "Can I pay by bank transfer? I don't have a credit card.",
        "Please confirm my subscription is cancelled. I don't want any more payments going out.",
        "I'm a student, is there a cheaper option than the standard plan?",
        "Got charged after my trial ended even though I cancelled on day 5. Not impressed.",
        "I'm really frustrated. This is the second month in a row you've taken payment twice.",
        "Could you resend the invoice for my March order? I can't find the original.",
        "My partner and I both pay for plans, can we combine them into one family plan and pay less?",
        "Your website said the coupon was valid until Sunday but it was rejected on Saturday.",
        "I was promised a goodwill credit of £10 by one of your agents but it hasn't appeared.",
        "The charge on my statement says BRIGHTCART*MKTPL, is that you?",
        "When will I be charged for a pre-order, now or when it ships?",
        "I'd like a refund please, the item isn't what was described.",
        "Why is there a pending payment on my card for an order I never completed?",
        "The gift card I bought for my mum shows a zero balance.",
        "I got a refund email but no money has come through, it's been 10 days.",
        "Do you price match? I found the same blender £20 cheaper elsewhere.",
        "Refund the duplicate payment please. Order 58821. Thanks.",
        "Can I get a breakdown of what I paid for? The total doesn't add up.",
        "I was charged in euros even though I'm in the UK, and my bank added a conversion fee.",
        "Upgraded to Pro this morning and the money went out twice.",
        "Is there a way to get monthly invoices sent automatically?",
        "Please don't charge me for the next month, I've already cancelled.",
        "I bought the bundle but was charged separately for each item, which came to more.",
        "My card expired, how do I update it so my subscription doesn't lapse?",
        "Does the price include the stand or is that extra?",
        "I think you've charged me the old price, the site says it's cheaper now.",
    ],
    "delivery": [
        "Hi, sorry for the long message. My order was meant to come on Tuesday, the tracking then said Wednesday, then Friday, and today it says the parcel is back at the depot. I've taken two days off work for this.",
        "My parcel has been sitting at the local depot for five days. Why hasn't it been sent out?",
        "where is my order",
        "The courier left the box on the pavement in full view of the street. Anyone could have taken it.",
        "Hi, I moved house last week. Can you update the address on my open order before it ships?",
        "The tracking page says 'delivery attempted' but nobody knocked. I was home all day.",
        "I ordered a lamp and received a lamp shade. Just the shade.",
        "Do you deliver on Saturdays? I work weekdays.",
        "The package arrived but the seal was broken and one item is missing.",
        "It's been two weeks and my order still hasn't left your warehouse. Is there a problem with stock?",
        "Hello, could you tell me which courier is bringing my order so I can keep an eye out?",
        "Third time the driver has left my parcel at the wrong house. My neighbour at number 12 is getting fed up.",
        "The mugs arrived in pieces. There was no padding in the box at all.",
        "Can I collect the order from your store instead of waiting for the post?",
        "I need this before Friday for a wedding. Is there any faster shipping option?",
        "My tracking number shows someone else's parcel in another country.",
        "I've been waiting in all day for a delivery slot of 8am to 6pm. Nothing. Not even an email.",
        "The box was so wet from the rain that the bottom fell out when I picked it up.",
        "The driver threw my parcel over the fence. It landed in a flowerbed.",
        "Can you ship to a PO box?",
        "I only got two of the three boxes. The tracking says all three were delivered.",
        "The parcel is addressed to me but the name is spelled wrong and the depot won't release it.",
        "Ordered on Monday with next-day delivery and it's now Thursday.",
        "Is there a way to choose which day it comes? I'm away next week.",
        "Package marked as delivered. Not here. Checked with neighbours, checked the bins. Nothing.",
        "The frame came with a cracked corner, it must have been dropped on the way.",
        "Could the driver leave future parcels in the shed at the side of the house?",
        "How long does it take for orders to reach Northern Ireland?",
        "My order got sent back to you because the courier couldn't find my flat. Can you send it again?",
        "The tracking hasn't moved since it left the sorting centre on the 3rd.",
        "Received the wrong colour. I ordered navy, got bright orange.",
        "I'm going on holiday on the 20th, will my order get here before then?",
        "Sorry to bother you, but my parcel seems to be going round in circles between two depots.",
        "Is it possible to get the package delivered to my work adress instead?",
        "Delivery guy was rude and just dumped the box at the gate.",
        "The outer box was fine but the item inside was snapped in half.",
        "I live on a farm and couriers never find us. Can I add directions to my order?",
        "I need a return label for the shoes, they're too small.",
        "Why was my order split into three separate parcels?",
        "The estimated arrival date keeps moving back. First Monday, then Wednesday, now next week.",
        "My grandmother's birthday present never showed up. I'm gutted.",
        "Can someone call me when the driver is close? The buzzer doesn't work.",
        "I got an empty box. Literally nothing inside.",
        "Are you shipping to Spain at the moment?",
        "The courier's website says my parcel is 'awaiting collection' but I don't know where from.",
        "Item arrived with a big scratch across the top, the packaging was torn.",
        "My parcel was left in a puddle by the bins.",
        "Still haven't got it. The tracking just says 'label created'.",
    ],
    "account": [
        "I've been a customer for about six years and honestly can't remember which email I signed up with. I've tried three and the password reset never comes to any of them. Can you find my account by name and postcode?",
        "I can't log in. It keeps saying 'incorrect password' even though I'm copying it straight from my password manager.",
        "How do I delete my account completely? Not just hide it, fully delete.",
        "I changed my email address and now I can't sign in with either the old or the new one.",
        "Someone logged into my account from another country last night. I've changed my password but I'm worried.",
        "I never get the verification code when I try to log in.",
        "Hi, I'd like to change the name on my profile, I got married.",
        "Locked out. Help.",
        "The password reset link says it has expired, even when I click it straight away.",
        "Can I have two logins for the same account, one for me and one for my husband?",
        "My account was blocked after I entered my password wrong three times. How long until I can try again?",
        "I lost my phone and it had the 2FA app on it. How do I get back in?",
        "I can't log in to download my invoices.",
        "I want to check where my parcel is but your site won't accept my password.",
        "Please remove my personal data from your systems under GDPR.",
        "My username has my old surname in it, can it be changed?",
        "Why do you need my phone number? I don't want to add it to my account.",
        "I made an account by mistake with my work email. Can you switch it to my personal one?",
        "Every time I sign in it asks me to verify my email again.",
        "I'm getting password reset emails I didn't ask for. Should I be worried?",
        "can you delete my profile pls",
        "I have an account from years ago and a new one. Can you merge my order history into one?",
        "Forgot my password and I don't have access to that email anymore.",
        "Your security check keeps asking for a code that goes to a number I don't own anymore.",
        "How do I turn on two-step verification?",
        "My son made an account using my email without asking. I want it removed.",
        "It says an account already exists with my email, but I've never signed up.",
        "Is there a way to see which devices are logged into my account?",
        "I want to close my account but keep my last order invoice. Is that possible?",
        "The login page says my account is disabled. I didn't do anything!",
        "How do I change my password? I can't find the option anywhere.",
        "Just got an email saying my password was changed. It wasn't me!!",
        "Can I use my account in another country or do I need a new one?",
        "I'd like to stop getting texts with login codes and use an app instead.",
        "Please update the email on my profile to the one I'm writing from.",
        "I tried the forgot password option five times and never got an email.",
        "Hello, my late father had an account with you. How can I close it?",
        "I accidentally deleted my account, can I get it back?",
        "I want my date of birth corrected on my profile, it's showing the wrong year.",
        "Signed up with Facebook, now I want to log in with email and password instead. How?",
        "I used a shared computer at the library and forgot to log out. Can you sign me out everywhere?",
        "Your verification code came through after it had already expired.",
        "Why was my account flagged as suspicious?",
        "My wife and I share one email, can we each have our own account?",
        "I keep being asked to confirm my identity before I can log in. How do I stop that?",
        "Hacked. Password changed, email changed, I can't get in at all. Help.",
        "Where do I change my notification and privacy settings?",
        "I dont remember which email I used to sign up. Can you look me up by name?",
        "Can I change the security question? I genuinly can't remember the answer.",
    ],
    "technical": [
        "Whenever I open the app on my phone it shows the home page for a second, then goes completely white, and after about ten seconds it closes itself. I've restarted the phone and reinstalled the app, nothing helps.",
        "The app crashes as soon as I open it. I've tried reinstalling.",
        "Your website has been down all morning, is something wrong?",
        "Every time I click 'pay now' the page just refreshes and nothing happens.",
        "Search doesn't work. I typed 'blue jacket' and got kitchen knives.",
        "The app is so slow since the update, it takes 20 seconds to open a product.",
        "I can't upload a photo with my review, it just says error.",
        "On my iPhone the bottom menu is cut off and I can't reach the basket.",
        "The tracking map in the app is just a grey square.",
        "Images on the homepage are broken, just little icons with a question mark.",
        "I get kicked back to the home page whenever I try to view my invoices.",
        "Your site doesn't work with my screen reader. None of the buttons have labels.",
        "The 'load more' button loads the same ten products again.",
        "App keeps crashing on Android 14.",
        "The sort by price option sorts everything randomly.",
        "Hi, when I try to change my address in the app, the save button is greyed out.",
        "The website is unbearably slow on 4G.",
        "Your checkout throws an error after I enter my card details, so I can't finish my order.",
        "Notifications are coming through in a language I don't speak.",
        "The product page keeps jumping around while it loads, and I end up tapping the wrong thing.",
        "The app won't open at all, just the logo and then it closes.",
        "Your site shows a 502 error.",
        "Can you fix the filters? Selecting 'size M' shows every size.",
        "After updating Chrome your website just shows a spinning wheel.",
        "The chat button on the site doesn't do anything.",
        "The reviews section is empty on every product, even ones I know have reviews.",
        "Voice search in the app crashes it instantly.",
        "The app uses 2GB of storage. Is that normal?",
        "The zoom on product photos doesn't work on touch screens.",
        "I get a 'too many requests' error after a couple of clicks.",
        "Dark mode turns the text black on a black background.",
        "Why does the site keep asking me to accept cookies every single time?",
        "The page freezes when I scroll through the sale items.",
        "The barcode scanner in your app can't focus and just shows a blurry picture.",
        "your app is broken again",
        "Links in your newsletter lead to a page that says 'not found'.",
        "The basket counter says 3 but the basket itself is empty.",
        "The compare feature only lets me add one product.",
        "Keyboard doesn't pop up when I tap the search field on Android.",
        "Whenever I open the app it asks for location permission, even after I said no.",
        "The countdown timer on the deals page shows negative numbers.",
        "Audio on the product videos is out of sync.",
        "The size chart pop-up won't close on my phone.",
        "Everything on your site is in huge text since yesterday, like it's zoomed in 400%.",
        "Pressing back in the app takes me out of the app entirely instead of to the previous screen.",
        "The captcha never accepts my answer, I've tried about 15 times.",
        "Half the page is in German and half in English. Weird bug.",
        "The app has been stuck on the splash screen since this morning's update.",
    ],
}

HAND_FAMILIAR = {
    "billing": [
        "I ordered two jackets, sent one back the same week because it was the wrong size, and your email says the refund is done, but my bank still shows both payments and nothing coming back. Can you check?",
        "I was charged for two subscriptions, I only have one.",
        "Could you refund the last payment? I forgot to cancel before the renewal.",
        "Hi team, the invoice you sent has last year's date on it. Can you correct it?",
        "Why did the price of my plan change without notice?",
        "I paid £35 for the jacket but the refund was only £30.",
        "Still no refund. It's been a month. What is going on?",
        "Is there a discount if I pay for the whole year up front?",
        "Two charges, one order. Please sort.",
        "My trial turned into a paid plan and I never agreed to that.",
        "Can the invoice show my company address rather than my home address?",
        "The promo code worked in the basket but disappeared when I paid.",
        "Hello, I'd like to know which payment methods you accept for orders over £500.",
        "Money left my account but the order page says unpaid.",
        "I'm owed a refund for the cancelled order from last Tuesday.",
        "can i get my money back if i cancel halfway through the month",
        "I returned the chair a month ago and the refund still says processing.",
        "The parcel came fine, I just need an invoice for it.",
        "I deleted the app weeks ago and I'm still being charged for the subscription.",
        "The app showed £20 but my card was charged £26.",
        "After my order got lost you promised my money back. Still waiting.",
        "Please end my subscription, not my account. I just want the monthly payments to stop.",
        "The website kept hanging so I clicked pay three times, and now I've been charged three times.",
        "Can you put my login email on the invoice? Our finance team needs it.",
        "Which card is my subscription on? I can't remember which one I used.",
        "The courier's fee was already included in the price, so why was it charged again at checkout?",
        "Do I still pay for the plan while my account is on hold?",
    ],
    "delivery": [
        "The tracking says my parcel is in a depot 200 miles away from me.",
        "My order arrived without the charger that should be in the box.",
        "Courier left my package in the recycling bin.",
        "Could you send my order to my parents' address instead? I'll be staying there.",
        "The box was squashed flat and the lamp inside is bent.",
        "Still waiting on my parcel. Due last Friday.",
        "Hi, I got a notice saying the driver couldn't deliver. When will they try again?",
        "Which days do you deliver to rural areas?",
        "My order says shipped but the tracking hasn't started.",
        "Half my order came today, when does the rest arrive?",
        "The parcel was delivered to an address I haven't lived at for two years.",
        "I think my package got stolen from outside my door.",
        "Is express delivery guaranteed by 1pm?",
        "got someone elses order lol. what do i do with it",
        "The glass bottle leaked all over the other items in the box.",
        "The driver marked it as delivered while still sitting in his van outside.",
        "I paid for next-day and it's been four days.",
        "The app says my order was handed over, but nobody came to the door.",
        "Can I change where my order goes without logging into my account?",
        "My invoice came in the box but the item itself didn't.",
        "The screen on the smartwatch was cracked when I opened the box.",
        "Checked the app ten times today, it still says 'on its way' from last Friday.",
        "The label had someone else's name and email on it.",
        "Is it too late to send my order to a different city?",
        "The order page says my blender is with the driver, but that was on Tuesday.",
        "I'm not after a refund, I just want to know where my parcel actually is.",
    ],
    "account": [
        "I can't log in, it says my email isn't registered.",
        "Please delete my account, I don't shop here anymore.",
        "The verification code text takes ages to come through and then it has expired.",
        "How do I change my password on the app?",
        "I've been locked out since yesterday, can you unlock me?",
        "Someone changed my email address without my permission.",
        "Can I change my username to something less embarrassing? I made it when I was 14.",
        "I can't sign in to see my refund status.",
        "The forgot password email never comes through, not even in spam.",
        "I'd like to update my phone number for login codes.",
        "Is it possible to have my account and all my reviews removed?",
        "My profile shows someone else's name and address!",
        "i think my account got hacked, my password doesnt work and my email was changed",
        "Why am I asked to verify my email every time I log in?",
        "Hi, can I move my saved wishlist to a new account?",
        "I signed up twice by accident, please remove the newer login.",
        "I can't log in to cancel my subscription.",
        "The app won't accept my new password.",
        "My parcel updates go to an old email, how do I change it on my profile?",
        "Every time I try to pay it asks me to sign in again and then the code never comes.",
        "Someone got into my account and sent orders to an address I don't know.",
        "My name is spelled wrong on my profile, and so it's wrong on every invoice.",
        "I'm locked out and can't see where my package is.",
        "Where can I change my password? The settings on your site are confusing.",
        "I can't get into my account to start a return.",
        "The code to confirm my new phone number never comes, so I can't finish my sign up.",
    ],
    "technical": [
        "Every time I get to the last step of checkout on my laptop the page goes grey and says something went wrong, then it puts me back on the basket page with everything still in it. Tried twice today.",
        "The app crashes whenever I try to open my wishlist.",
        "Your website keeps showing an error when I search for anything.",
        "Pages load really slowly today, is the site having problems?",
        "The download invoice button does nothing.",
        "App freezes on the payment screen every time.",
        "The filter for colour is broken, it shows all colours.",
        "After the update the app won't open on my Samsung.",
        "Product photos are not loading, I just see grey boxes.",
        "The scroll on the home page is jumpy and keeps skipping items.",
        "The add to basket button isn't clickable in Edge.",
        "The tracking section of the app shows a blank screen.",
        "There's a bug where the quantity resets to 1 when I refresh.",
        "Your site is giving me a 404 on the returns page.",
        "Hi, the app shows prices in the wrong currency since the update.",
        "Clicking on reviews crashes the whole page.",
        "The search box clears itself every time I type a second word.",
        "The refund button does nothing when I click it.",
        "The password box won't let me paste, so I have to type it out every time.",
        "The date picker for delivery in checkout only shows dates in the past.",
        "Tapping 'track my parcel' in the app takes me to a blank page.",
        "Every time I log in the home page takes a full minute to load.",
        "The discount code box disappears when I scroll down on my phone.",
        "The account settings page is just a spinning wheel.",
        "Your emails look fine but every link in them opens a broken page.",
        "The address form rejects my postcode even though I've typed it correctly.",
        "The payment page won't load in Chrome, I get a white screen.",
    ],
}

HAND_NOVEL = {
    "billing": [
        "I sent the boots back three weeks ago, your own carrier confirmed they reached you, and I still haven't been reimbursed. On top of that, my Mastercard shows a second debit for the same pair.",
        "I've been billed double this month, could someone reverse one of them?",
        "Where's my reimbursement? I sent the item back weeks ago.",
        "Could you provide a receipt for my last purchase? My employer needs proof of what I spent.",
        "My membership went up in cost without anyone telling me.",
        "An unexpected surcharge appeared on my bill. What is it for?",
        "The voucher my sister gave me isn't being accepted.",
        "You debited my savings twice for a single purchase.",
        "I'd like to be reimbursed for the months my membership wasn't used.",
        "Overcharged again! This is the third bill in a row that's wrong.",
        "What is the yearly pricing for a household of four?",
        "The tax on my receipt looks far too high.",
        "Funds were deducted even though the purchase never went through.",
        "I've started a chargeback because nobody answered me about the reimbursement.",
        "Can I split the bill into monthly installments?",
        "Is the quarterly tariff cheaper than paying each month?",
        "Hi, I need a receipt that lists each item for an expense claim, the one attached only shows a total.",
        "The membership fee was taken from my Mastercard before the free month ended.",
        "I ended my membership in June yet I'm still being billed.",
        "Why was I billed in dollars? I live in Scotland.",
        "please reimburse me, the item was nothing like the photos",
        "My Amex shows three debits from you this week. Only one is mine.",
    ],
    "delivery": [
        "My shipment was meant to turn up last Tuesday, the carrier then said Thursday, and now their status just says 'in transit' with no date at all. I've stayed home for this twice already.",
        "My shipment is three days overdue and nobody can tell me where it is.",
        "The postman swears he dropped it off, but my porch was empty when I got home.",
        "The carton turned up crushed and the vase inside was smashed.",
        "Has my order been dispatched yet? I placed it on Monday.",
        "It seems my packet vanished somewhere en route.",
        "The carrier's status has said 'in transit' for eleven days.",
        "Can you reroute the shipment to my new flat? I've relocated.",
        "The mailman left a slip saying nobody was in. I was in.",
        "My things came dented and scuffed, the packing was flimsy.",
        "Do you send shipments abroad, say to Portugal?",
        "The shipment got delayed again. This is getting silly.",
        "The postie put it through the wrong letterbox.",
        "What's the usual transit time to a zip code in Ohio?",
        "Our shipment still hasn't been dispatched and it's been over a week.",
        "The carton was dented on one side and two of the plates were smashed.",
        "Why is my order overdue? It was meant to be here by the weekend.",
        "i think the carrier gave my stuff to the wrong flat",
        "Has anyone actually dispatched my headphones or are they still on a shelf somewhere?",
        "Can the postman leave things on the porch when I'm out?",
        "Only one of the two packets came. The second seems to have vanished.",
        "The freight company says it's waiting for paperwork from you.",
        "The consignment reference you gave me shows nothing with the carrier.",
    ],
    "account": [
        "I've had a new mobile for a month and the authenticator never moved over, so every time I try to get in it wants a passcode I can't get. How do I recover access without the old handset?",
        "My credentials stopped working overnight and I haven't changed anything.",
        "The one-time passcode never reaches my inbox.",
        "I can't authenticate on my new mobile, the authenticator codes are always rejected.",
        "Please deactivate my user ID and erase my personal details.",
        "Why has my access been suspended? Nobody contacted me.",
        "I think my details were compromised, there's a stranger's nickname showing where mine should be.",
        "How do I swap my avatar and nickname?",
        "My access is frozen after I typed the passcode wrong a few times.",
        "The recovery link for my passphrase only works once and then dies.",
        "I'm barred from getting in. What did I do?",
        "Can I recover the old user ID I had back in 2019?",
        "Someone hijacked my user ID and changed the contact details.",
        "Is the authenticator mandatory? I'd rather get an OTP by text.",
        "The OTP arrives on my previous mobile number, not my current one.",
        "Please change the handle shown next to my reviews.",
        "I suspect an intruder is using my credentials, I'm being notified of sign-ons from Brazil.",
        "How do I authenticate if I no longer own that mobile?",
        "My inbox got flooded with recovery messages I never requested.",
        "please erase me from your systems entirely",
        "The site says my user ID is suspended pending review.",
        "I'd like to add a passphrase instead of a short passcode, is that possible?",
    ],
    "technical": [
        "For the last few days the program on my tablet has been so sluggish that it takes half a minute to show anything, and then it quits whenever I try to scroll down.",
        "The software keeps glitching whenever I try to finish an order.",
        "Your portal is incredibly sluggish this evening.",
        "The menus are unresponsive on my tablet, nothing happens when I tap.",
        "The program hangs on a grey display right after launching.",
        "In Firefox the whole interface looks jumbled and overlapping.",
        "It quits unexpectedly every time I open the reviews.",
        "Everything has been laggy since the newest version came out.",
        "There's a glitch where my basket empties itself.",
        "The webpage hits a timeout before I can finish paying.",
        "Safari shows garbled text instead of product descriptions.",
        "I rebooted my tablet twice and the software still stalls.",
        "The interface is malfunctioning, dropdowns open and instantly close.",
        "The photos in the gallery appear stretched and pixelated on my MacBook.",
        "Your portal hits a timeout whenever I attach a photo.",
        "Why does the software lag so badly on older phones?",
        "The webpage won't render properly, half of it is missing.",
        "Typing in the search field is laggy, each letter appears a second late.",
        "I keep hitting a glitch where the reimbursement form refuses to submit.",
        "the thing just hangs and hangs. tried firefox too, same story",
        "Is there a known outage? The portal is completely unresponsive.",
        "The glitchy checkout on the portal took my details and then went grey.",
    ],
}

# Proper nouns that must keep their capital after a lower-case lead-in.
KEEP_CAPS = {
    "I",
    "I'm",
    "I've",
    "I'd",
    "I'll",
    "PayPal",
    "Apple",
    "Chrome",
    "Edge",
    "Opera",
    "Android",
    "Firefox",
    "Safari",
    "Brave",
    "Klarna",
    "iOS",
    "VAT",
    "GDPR",
    "OTP",
}


# ---------------------------------------------------------------------------
# Generation helpers.
# ---------------------------------------------------------------------------
Row = dict[str, str]


def make_order(rng: random.Random) -> str:
    """Return an order reference in one of a few styles."""
    n = rng.randint(10000, 999999)
    style = rng.randrange(5)
    if style == 0:
        return f"order #{n}"
    if style == 1:
        return f"order {n}"
    if style == 2:
        return f"order ST-{rng.randint(10000, 99999)}"
    if style == 3:
        return f"my order ({n})"
    return "my last order"


def fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    """Fill one template: ``[a|b]`` picks an alternative, ``{slot}`` a filler."""

    def alt(m: re.Match[str]) -> str:
        options: list[str] = m.group(1).split("|")
        return rng.choice(options)

    text = re.sub(r"\[([^\[\]]*)\]", alt, template)
    lo, hi = rng.choice(PRICE_PAIRS)

    def slot(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "order":
            return make_order(rng)
        if name == "postcode":
            return rng.choice(["LS6 2AB", "BS3 4QT", "M14 5RG", "EH9 1LW", "CF10 3AT"])
        if name == "date_suffix":
            return rng.choice(["", "", " by Friday", " this week"])
        if name in ("lo", "hi"):
            return lo if name == "lo" else hi
        return rng.choice(slots[name])

    text = re.sub(r"\{(\w+)\}", slot, text)
    # capitalise the start of each sentence ("Billed again. Order #1234.")
    return re.sub(r"([.!?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def cap_first(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def lower_first(s: str) -> str:
    first = s.split(" ", 1)[0]
    if first in KEEP_CAPS or (not first[1:].islower() and len(first) > 1):
        return s
    return s[:1].lower() + s[1:]


def add_typo(text: str, rng: random.Random, protect: set[str]) -> str:
    words = text.split(" ")
    idx = [
        i for i, w in enumerate(words) if w.isalpha() and len(w) >= 5 and w.lower() not in protect
    ]
    kind = rng.randrange(3)
    if kind == 0 and ("can't" in text or "don't" in text or "I'm" in text):
        return text.replace("can't", "cant", 1).replace("don't", "dont", 1).replace("I'm", "im", 1)
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    # kind 1: swap two neighbouring letters; kind 2: drop a letter
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :] if kind == 1 else w[:j] + w[j + 1 :]
    return " ".join(words)


def dress(body: str, rng: random.Random, protect: set[str]) -> str:
    """Wrap a generated message with greeting/sign-off/tone/typos."""
    body = cap_first(body)
    r = rng.random()
    if r < 0.07:
        body = rng.choice(RAMBLE) + " " + lower_first(body)
    elif r < 0.30:
        greet = rng.choice(GREETINGS)
        body = greet + " " + (lower_first(body) if greet.endswith(",") else body)
    r = rng.random()
    if r < 0.08:
        body = body + " " + rng.choice(ANGRY)
    elif r < 0.33:
        body = body + " " + rng.choice(SIGNOFFS)
    r = rng.random()
    if r < 0.05:
        body = add_typo(body, rng, protect)
    elif r < 0.11:
        body = body.lower().rstrip(".")
    return body


def norm(s: str) -> str:
    """Dedup key: case, whitespace and punctuation insensitive."""
    s = re.sub(r"['’]", "", s.lower())
    return " ".join(re.sub(r"[^a-z0-9£$€ ]", " ", s).split())


def words_of(s: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", s.lower()))


def generate(
    templates: list[str],
    slots: dict[str, list[str]],
    n: int,
    rng: random.Random,
    seen: set[str],
    protect: set[str],
    forbid: set[str],
) -> list[str]:
    """Generate n new messages whose text and filled core are both unused so far."""
    out: list[str] = []
    order = list(range(len(templates)))
    rng.shuffle(order)
    k = 0
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200000:
            raise RuntimeError("could not generate enough unique messages")
        t = templates[order[k % len(order)]]
        k += 1
        core = fill(t, slots, rng)
        if norm(core) in seen:
            # each filled sentence is used once: no copies that differ only
            # in greeting or sign-off
            continue
        text = dress(core, rng, protect)
        nwords = len(text.split())
        if not 3 <= nwords <= 40:
            continue
        if forbid and words_of(text) & forbid:
            continue
        key = norm(text)
        if key in seen:
            continue
        seen.add(key)
        seen.add(norm(core))
        out.append(text)
    return out


def build() -> None:
    """Write train.jsonl, test.jsonl and heldout_words.txt next to this file."""
    rng = random.Random(SEED)
    heldout = set(ALL_HELDOUT)
    seen: set[str] = set()

    # Reserve every hand-written message first (no duplicates allowed).
    for group in (HAND_TRAIN, HAND_FAMILIAR, HAND_NOVEL):
        for label in LABELS:
            for text in group[label]:
                key = norm(text)
                if key in seen:
                    raise ValueError(f"duplicate hand-written message: {text}")
                seen.add(key)

    train: list[Row] = []
    familiar: list[Row] = []
    novel: list[Row] = []

    # Every FAMILIAR_EVERY-th training template is kept back for the familiar
    # test split only: same vocabulary and style, but a sentence frame the
    # training file never uses.
    def train_tpl(label: str) -> list[str]:
        return [t for i, t in enumerate(TRAIN_TEMPLATES[label]) if i % FAMILIAR_EVERY != 2]

    def familiar_tpl(label: str) -> list[str]:
        return [t for i, t in enumerate(TRAIN_TEMPLATES[label]) if i % FAMILIAR_EVERY == 2]

    for label in LABELS:
        hand = HAND_TRAIN[label]
        gen = generate(
            train_tpl(label), TRAIN_SLOTS, N_TRAIN_PER_CLASS - len(hand), rng, seen, set(), heldout
        )
        train += [{"text": t, "label": label} for t in hand + gen]
    for label in LABELS:
        hand = HAND_FAMILIAR[label]
        n_gen = N_FAMILIAR_PER_CLASS - len(hand)
        # half from held-back frames, half from frames also used in train
        gen = generate(familiar_tpl(label), TRAIN_SLOTS, n_gen // 2, rng, seen, set(), heldout)
        gen += generate(
            train_tpl(label), TRAIN_SLOTS, n_gen - n_gen // 2, rng, seen, set(), heldout
        )
        familiar += [{"text": t, "label": label, "split": "familiar"} for t in hand + gen]
    for label in LABELS:
        hand = HAND_NOVEL[label]
        gen = generate(
            NOVEL_TEMPLATES[label],
            NOVEL_SLOTS,
            N_NOVEL_PER_CLASS - len(hand),
            rng,
            seen,
            heldout,
            set(),
        )
        novel += [{"text": t, "label": label, "split": "novel"} for t in hand + gen]

    rng.shuffle(train)
    test = familiar + novel
    rng.shuffle(test)

    # ---- checks -----------------------------------------------------------
    def vocab(rows: list[Row]) -> set[str]:
        return set().union(*(words_of(r["text"]) for r in rows))

    problems = []
    if leaked := sorted(heldout & vocab(train)):
        problems.append(f"held-out words found in train: {leaked}")
    if leaked := sorted(heldout & vocab(familiar)):
        problems.append(f"held-out words found in familiar test: {leaked}")
    if missing := sorted(heldout - vocab(novel)):
        problems.append(f"held-out words unused in novel test: {missing}")
    if bad := [r["text"] for r in novel if not words_of(r["text"]) & heldout]:
        problems.append(f"novel texts without a held-out word: {bad}")
    if bad := [r["text"] for r in train + test if not 3 <= len(r["text"].split()) <= 40]:
        problems.append(f"texts outside 3-40 words: {bad}")
    if problems:
        raise ValueError("\n".join(problems))

    # ---- write ------------------------------------------------------------
    def dump(path: Path, rows: list[Row]) -> None:
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    dump(HERE / "train.jsonl", train)
    dump(HERE / "test.jsonl", test)
    (HERE / "heldout_words.txt").write_text(
        "".join(w + "\n" for w in sorted(heldout)), encoding="utf-8"
    )
    print(
        f"train={len(train)} test={len(test)} "
        f"(familiar={len(familiar)}, novel={len(novel)}) heldout={len(heldout)}"
    )


if __name__ == "__main__":
    build()
