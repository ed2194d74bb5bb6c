"""Google Publisher Tag (and Prebid.js) wiring for units that carry `gpt:`.

`csp` decides whether (and with which nonce) adinject may add inline scripts to a page, `head` finds where
the page's <head> can take them, `slot` reserves a slot's height and puts its display call inside the unit,
`script` writes the scripts, and `jsvalue` turns every value into a JavaScript literal that is safe inside an
HTML <script> element.
"""
