"""Storage-format extraction: one test per row of the table in docs/site-format.md (Bodies), then
entities, word breaks, plain text and the bodies that cannot be parsed."""

from __future__ import annotations

import pytest

from index.site.storage_format import BodyInfo, StorageFormatError, extract, is_plain_text

USER = "5b6d7f20e6dba529eefdbad9"

# (row of the table, body, expected text, macros, mentions)
TABLE_ROWS = [
    (
        "ordinary XHTML",
        "<h1>Plan</h1><p>Release <strong>plan</strong></p><ul><li>one</li><li>two</li></ul>"
        "<table><tr><th>a</th><td>b</td></tr></table><pre>x = 1</pre>"
        '<p><a href="https://example.com">site</a> and <code>cfg</code></p>',
        "Plan Release plan one two a b x = 1 site and cfg",
        (),
        (),
    ),
    (
        "macro: parameters are not text",
        '<ac:structured-macro ac:name="jira" ac:schema-version="1">'
        '<ac:parameter ac:name="key">PROJ-1</ac:parameter></ac:structured-macro>',
        "",
        ("jira",),
        (),
    ),
    (
        "macro without body",
        '<ac:structured-macro ac:name="toc" />',
        "",
        ("toc",),
        (),
    ),
    (
        "macro with rich body",
        '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Note</p>'
        "</ac:rich-text-body></ac:structured-macro>",
        "Note",
        ("info",),
        (),
    ),
    (
        "macro with plain body: CDATA is text, taken literally",
        '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">python'
        '</ac:parameter><ac:plain-text-body><![CDATA[print("hi") if a < b and c > d &amp;]]>'
        "</ac:plain-text-body></ac:structured-macro>",
        'print("hi") if a < b and c > d &amp;',
        ("code",),
        (),
    ),
    (
        "user mention",
        f'<ac:link><ri:user ri:account-id="{USER}" /></ac:link>',
        "",
        (),
        (USER,),
    ),
    (
        "link to a page without link text",
        '<ac:link><ri:page ri:content-title="Roadmap" ri:space-key="DEV" /></ac:link>',
        "",
        (),
        (),
    ),
    (
        "link to a page: the link text is text",
        '<p>See <ac:link><ri:page ri:content-title="Roadmap" ri:space-key="DEV" />'
        "<ac:plain-text-link-body><![CDATA[the roadmap]]></ac:plain-text-link-body></ac:link>."
        ' Or <ac:link><ri:page ri:content-title="Plan" /><ac:link-body>the <em>plan</em>'
        "</ac:link-body></ac:link>.</p>",
        "See the roadmap. Or the plan.",
        (),
        (),
    ),
    (
        "image of an attachment",
        '<ac:image ac:alt="diagram"><ri:attachment ri:filename="diagram.png" /></ac:image>',
        "",
        (),
        (),
    ),
    (
        "task list: body is text, a user inside is a mention, id and status are not text",
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id>"
        "<ac:task-status>incomplete</ac:task-status><ac:task-body>Ship it "
        '<ac:link><ri:user ri:account-id="abc-123" /></ac:link></ac:task-body></ac:task>'
        "</ac:task-list>",
        "Ship it",
        (),
        ("abc-123",),
    ),
    (
        "inline comment marker: the marked words are text",
        '<p>Un<ac:inline-comment-marker ac:ref="abc">marked words</ac:inline-comment-marker></p>',
        "Unmarked words",
        (),
        (),
    ),
    (
        "emoticon and placeholder are not text",
        '<p>Great<ac:emoticon ac:name="smile" />work <ac:placeholder>Type here</ac:placeholder>'
        "</p>",
        "Great work",
        (),
        (),
    ),
]


@pytest.mark.parametrize(
    ("body", "text", "macros", "mentions"),
    [row[1:] for row in TABLE_ROWS],
    ids=[row[0] for row in TABLE_ROWS],
)
def test_table_rows(body: str, text: str, macros: tuple[str, ...], mentions: tuple[str, ...]):
    assert extract(body) == BodyInfo(text=text, macros=macros, mentions=mentions)


def test_macros_are_sorted_unique_lower_case_including_legacy_ac_macro():
    body = (
        '<ac:structured-macro ac:name="TOC" /><ac:macro ac:name="note"><ac:rich-text-body>'
        '<p>n</p></ac:rich-text-body></ac:macro><ac:structured-macro ac:name="expand">'
        '<ac:rich-text-body><ac:structured-macro ac:name="toc" /></ac:rich-text-body>'
        "</ac:structured-macro>"
    )
    assert extract(body).macros == ("expand", "note", "toc")


def test_nameless_macro_is_ignored_not_an_error():
    assert extract(
        "<ac:structured-macro><ac:rich-text-body><p>x</p></ac:rich-text-body></ac:structured-macro>"
    ) == BodyInfo("x", (), ())


def test_mentions_keep_first_seen_order_without_duplicates():
    body = (
        "".join(f'<p><ac:link><ri:user ri:account-id="{who}" /></ac:link></p>' for who in "bab")
        + '<p><ac:link><ri:user ri:account-id="c"></ri:user></ac:link></p>'
    )
    assert extract(body).mentions == ("b", "a", "c")


def test_user_inside_a_macro_parameter_is_a_mention_but_not_text():
    body = (
        '<ac:structured-macro ac:name="profile"><ac:parameter ac:name="user">'
        '<ri:user ri:account-id="u9" /></ac:parameter></ac:structured-macro>'
    )
    assert extract(body) == BodyInfo("", ("profile",), ("u9",))


def test_entities_are_decoded_html_style():
    body = "<p>caf&eacute;&nbsp;bar &mdash; fish &amp; chips &lt;b&gt; &#8217;s &#x41; &bogus;</p>"
    assert extract(body).text == "café bar — fish & chips <b> ’s A &bogus;"


def test_attribute_values_are_unescaped():
    body = '<ac:link><ri:user ri:account-id="a&amp;b" /></ac:link>'
    assert extract(body).mentions == ("a&b",)


def test_attribute_values_may_contain_angle_brackets_and_single_quotes():
    body = "<p title='a > b'>x</p><ac:structured-macro ac:name='status' data-x=\"<y>\" />"
    assert extract(body) == BodyInfo("x", ("status",), ())


def test_blocks_break_words_and_inline_elements_do_not():
    body = "<p>one</p><p>two<br/>three</p><ul><li>four</li></ul><p><strong>fi</strong>ve</p>"
    assert extract(body).text == "one two three four five"


def test_whitespace_is_collapsed():
    assert extract("<p>  a \n\t b&nbsp;&nbsp;c  </p>\n").text == "a b c"


def test_comments_declarations_and_processing_instructions_are_not_text():
    body = '<?xml version="1.0"?><!DOCTYPE html><p>a<!-- hidden <p> --> b</p>'
    assert extract(body).text == "a b"


def test_lone_less_than_sign_is_text():
    assert extract("<p>a < b</p>").text == "a < b"


def test_undeclared_prefixes_and_unclosed_html_are_tolerated():
    body = '<p>a<br><xyz:thing foo="1">b</xyz:thing><p>c<img src="x.png">'
    assert extract(body).text == "a b c"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "Just plain text with <b>tags</b> later &amp; entities",
        "Line one\n\n  indented line",
    ],
)
def test_plain_text_is_indexed_as_it_is(body: str):
    assert is_plain_text(body)
    assert extract(body) == BodyInfo(text=body, macros=(), mentions=())


def test_leading_whitespace_before_markup_is_storage_format():
    assert not is_plain_text("\n  <p>x</p>")
    assert extract("\n  <p>x &amp; y</p>").text == "x & y"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<p>x<![CDATA[abc</p>", "unterminated CDATA section at line 1, column 5"),
        ("<p>x</p>\n<!-- never closed", "unterminated comment at line 2, column 1"),
        ("<p>x</p><!DOCTYPE", "unterminated declaration at line 1, column 9"),
        ("<?xml version", "unterminated processing instruction at line 1, column 1"),
        ("<p>a <ac:link", "unterminated or malformed tag at line 1, column 6"),
        ('<p class="x>a</p>', "unterminated or malformed tag at line 1, column 1"),
        ("<p>a</p></", "unterminated or malformed tag at line 1, column 9"),
        ("<p><ac:link>x</p>", "<ac:link> is never closed: opened at line 1, column 4"),
        ("<p>x</ac:link></p>", "unexpected closing tag </ac:link> at line 1, column 5"),
        (
            '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>x</p></ac:structured-macro>',
            "closing tag </ac:structured-macro> does not match <ac:rich-text-body> "
            "(opened at line 1, column 37) at line 1, column 64",
        ),
        (
            "<ac:task-list>\n<ac:task><ac:task-body>x</ac:task-body>\n</ac:task-list>",
            "closing tag </ac:task-list> does not match <ac:task> (opened at line 2, "
            "column 1) at line 3, column 1",
        ),
    ],
)
def test_unparseable_bodies_raise_with_position(body: str, message: str):
    with pytest.raises(StorageFormatError) as caught:
        extract(body)
    assert str(caught.value).startswith(message)
    assert caught.value.offset is not None
    assert "near " in str(caught.value)


def test_cdata_hides_markup_that_would_otherwise_be_unbalanced():
    body = (
        '<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[</ac:link> <x]]>'
        "</ac:plain-text-body></ac:structured-macro>"
    )
    assert extract(body) == BodyInfo("</ac:link> <x", ("code",), ())


def test_storage_format_error_is_a_value_error():
    assert issubclass(StorageFormatError, ValueError)
