"""Targeting: which visitors, pages and moments a rule applies to, as pure functions of facts.

`device` classifies the visitor's device, `buckets` gives each visitor a sticky bucket for percentages and
A/B variants, `facts` gathers what a request says (once per request), and `conditions` evaluates a rule's
`when:` against request facts, page facts and the clock. Nothing here reads a socket or the time itself.
"""
