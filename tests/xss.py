"""XSS payloads from the OWASP filter-evasion cheat sheet, and a checker for HTML and feeds.

The checker parses markup as a browser would (html.parser), so escaped text
that merely mentions "onerror" or "<script>" is fine; a real tag, event
handler attribute or script URL is not.
"""

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

# Each one is a separate test id; keep at least 40.
PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    "javascript:/*--></title></style></textarea></script></xmp>"
    "<svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=javascript:alert(&quot;XSS&quot;)>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114'
    "&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116"
    '&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">',
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;"
    "&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65"
    "&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    '<SCRIPT/XSS SRC="http://xss.example/xss.js"></SCRIPT>',
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<SCRIPT SRC=http://xss.example/xss.js?< B >",
    "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<svg/onload=alert('XSS')>",
    "<svg><script>alert(1)</script></svg>",
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    '<OBJECT TYPE="text/x-scriptlet" DATA="http://xss.example/scriptlet.html"></OBJECT>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciPjxzY3JpcHQ+YWxlcnQoMSk8L3NjcmlwdD48L3N2Zz4=" type="image/svg+xml" AllowScriptAccess="always"></EMBED>',
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)",
    '" onfocus="alert(1)" autofocus="',
    "[click me](javascript:alert(1))",
    "[tab split](jav&#x09;ascript:alert(1))",
    "![pic](javascript:alert(1))",
    '<a href="&#1;javascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "</script><script>alert(1)</script>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<details open ontoggle=alert(1)>",
    '<a href="vbscript:msgbox(1)">vb</a>',
]

URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "background",
    "dynsrc",
    "lowsrc",
    "poster",
    "xlink:href",
    "srcset",
    "ping",
}
FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "base",
    "style",
    "noscript",
}
_IGNORED_IN_URLS = re.compile(r"[\x00-\x20]+")
_SCRIPT_URL = re.compile(r"^(javascript|vbscript|data:text/html|data:image/svg)", re.I)


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.data_blocks = []
        self._script = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            self._script = _script_kind(attributes)
            if self._script is None:
                self.problems.append(f"<script> element: {self.get_starttag_text()[:120]}")
        elif tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> element: {self.get_starttag_text()[:120]}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            if name == "style" and value and re.search(r"url\(|expression", value, re.I):
                self.problems.append(f"style with url()/expression on <{tag}>")
            if name in URL_ATTRIBUTES and value and is_script_url(value):
                self.problems.append(f"script URL in <{tag} {name}={value[:60]!r}>")
        if tag == "meta" and (attributes.get("http-equiv") or "").lower() == "refresh":
            self.problems.append("<meta http-equiv=refresh>")

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        if self._script == "data":
            try:
                self.data_blocks.append(json.loads(data))
            except ValueError:
                self.problems.append(f"JSON data block that is not JSON: {data[:80]!r}")
        elif self._script == "file" and data.strip():
            self.problems.append(f"inline code in a <script src>: {data[:80]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def _script_kind(attributes) -> str | None:
    """Return "data" for a JSON data block, "file" for a same-site script file, else None.

    The pages' own scripts are JSON-LD and JSON data blocks (never run) and,
    in the admin, files from this site; anything else was injected.
    """
    if attributes.get("type") in {"application/ld+json", "application/json"}:
        return "data"
    src = attributes.get("src") or ""
    if src.startswith("/") and not src.startswith("//"):
        return "file"
    return None


def is_script_url(value: str) -> bool:
    """Return True for a URL a browser would run as script, however it is disguised."""
    return bool(_SCRIPT_URL.match(_IGNORED_IN_URLS.sub("", value)))


def html_problems(html: str) -> list[str]:
    """Return the script elements, event handlers and script URLs in a page."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker.problems


def feed_problems(xml: str) -> list[str]:
    """Return the problems in a feed: in its markup, and in the HTML of its text nodes."""
    problems = html_problems(xml)
    for element in ET.fromstring(xml.encode()).iter():
        local = element.tag.rsplit("}", 1)[-1]
        # Feed readers render these as HTML.
        if local in {"description", "summary", "content"} and element.text:
            problems += [f"in <{local}>: {p}" for p in html_problems(element.text)]
    return problems
