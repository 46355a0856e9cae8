"""Form fields and widgets of the article editor."""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from taggit.forms import TagWidget

from articles import images
from articles.models import Category
from articles.validators import tag_count_error, validate_single_line_text


class CategoryChoiceField(forms.ModelChoiceField):
    """Choose a category by its whole path (Category.paths), not its name alone."""

    @cached_property
    def paths(self) -> dict[int, str]:
        # One query for every option, however deep the tree.
        return Category.paths()

    def label_from_instance(self, obj):
        return self.paths.get(obj.pk) or obj.path


class CategoryAutocompleteSelect(AutocompleteSelect):
    """The admin's category autocomplete, fed by the view that labels categories by path."""

    url_name = "%s:articles_category_autocomplete"


class CheckedImageField(forms.ImageField):
    """An image upload that says why a file is refused, and which formats are accepted."""

    def to_python(self, data):
        try:
            return super().to_python(data)
        except ValidationError as error:
            # Django's own message is generic; an SVG or an HTML page renamed
            # .jpg gets the specific reason from the upload checks.
            if error.code != "invalid_image" or data is None:
                raise
            raise images.upload_error(data) from error


class TagSuggestionsWidget(TagWidget):
    """The comma-separated tags box, suggesting existing tags as the author types."""

    class Media:
        css = {"all": ["css/admin-article-form.css"]}
        js = ["js/tag-suggestions.js"]

    def __init__(self, suggest_url: str, attrs=None):
        super().__init__(
            {
                "class": "vTextField",
                "autocomplete": "off",
                "data-suggest-url": suggest_url,
                "data-suggest-label": _("Existing tags"),
                "data-suggest-status": _(
                    "Existing tags: {count}. Use the up and down arrows, then Enter to add one."
                ),
                **(attrs or {}),
            }
        )


def check_length_on_save(field: forms.CharField) -> forms.CharField:
    """Stop the browser cutting text at ``field.max_length``; say by how much it is over instead.

    A ``maxlength`` attribute drops whatever is typed or pasted past the
    limit without a word, so the limit is checked when the form is saved.
    """
    if field.max_length is None:
        return field
    field.widget.attrs.pop("maxlength", None)
    field.validators = [
        MaxLengthValidator(
            field.max_length,
            message=_(
                "At most %(limit_value)d characters, please (this one has %(show_value)d). "
                "Shorten it and save again."
            ),
        )
        if isinstance(validator, MaxLengthValidator)
        else validator
        for validator in field.validators
    ]
    return field


def check_tags(names: list[str]) -> list[str]:
    """Return the tag field's parsed ``names``, refusing too many tags or unprintable ones."""
    if error := tag_count_error(len(names)):
        raise error
    for name in names:
        validate_single_line_text(name)
    return names
