"""The page as bytes: which encoding a browser would read it in, and how parser offsets map back to bytes.

`encoding` decides the encoding the way a browser does (BOM, Content-Type charset, `<meta>` prescan, default)
and decodes so that every byte round-trips; `offsets` turns turbohtml's code-point offsets (into
newline-normalised text) back into byte offsets of the original response body, so units can be spliced in
without touching any other byte.
"""
