from django import template

from articles import selectors

register = template.Library()


@register.inclusion_tag("admin/includes/editorial_summary.html", takes_context=True)
def editorial_summary(context):
    """Show editors the counts that need attention, linked to the statistics page."""
    user = context["request"].user
    if not user.has_perm("articles.publish_article"):
        return {"show": False}
    return {"show": True, "summary": selectors.editorial_summary()}
