"""Resolving who may read a wiki page, as the wiki does (unit level; the real wikis'
tests are in test_connector_dokuwiki and test_connector_mediawiki)."""

from __future__ import annotations

from connectors.wiki_acl import dokuwiki_page_groups, dokuwiki_readers, dokuwiki_scopes, namespace_groups

ACL = {
    "*": {"@ALL": 1, "@user": 8},
    "hr:*": {"@ALL": 0, "@hr": 1},
    "hr:public_notice": {"@ALL": 1},
    "fin:*": {"@user": 0, "@fin": 2, "jdoe": 1},
}


def test_scopes_most_specific_first():
    assert dokuwiki_scopes("a:b:c") == ["a:b:c", "a:b:*", "a:*", "*"]
    assert dokuwiki_scopes("start") == ["start", "*"]


def test_the_most_specific_scope_with_a_rule_for_the_readers_groups_decides():
    assert dokuwiki_readers("start", ACL) == {"ALL", "user", "hr", "fin"}
    assert dokuwiki_readers("hr:salaries", ACL) == {"hr"}
    assert dokuwiki_readers("hr:public_notice", ACL) == {"ALL", "user", "hr", "fin"}
    # as in DokuWiki: fin:* denies @user, but names neither @ALL nor @hr, whose root rule
    # lets them read; single users (jdoe) are not groups
    assert dokuwiki_readers("fin:budget", ACL) == {"ALL", "hr", "fin"}


def test_groups_without_a_mapping_see_nothing():
    groups = {"ALL": "public", "hr": ["hr-unit"]}
    assert dokuwiki_page_groups("hr:salaries", ACL, groups) == ("hr-unit",)
    assert dokuwiki_page_groups("hr:salaries", {"hr:*": {"@payroll": 1}, "*": {"@ALL": 0}}, groups) == ()
    assert set(dokuwiki_page_groups("start", ACL, groups)) == {"public", "hr-unit"}


def test_namespace_rules_most_specific_first_case_blind():
    rules = {"Private": ["hr"], "private:open": "public"}
    assert namespace_groups(["private:open", "private"], rules) == ("public",)
    assert namespace_groups(["private:closed", "private"], rules) == ("hr",)
    assert namespace_groups(["records"], rules) is None
