"""Forms of the agent's pay pages. They only carry the input: the rules (IBAN check digits,
minimum, balance) are the services', whose refusals the views put next to the fields."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import PayoutMethod


class PayoutMethodForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Where should your money go?"),
        choices=PayoutMethod.Kind.choices,
        widget=forms.RadioSelect,
        initial=PayoutMethod.Kind.IBAN,
    )
    holder_name = forms.CharField(
        label=_("Account holder"),
        required=False,
        max_length=70,
        help_text=_("Your name as your bank or Stripe knows it."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    # Longer than an IBAN's 34 characters: people paste it with spaces in groups of four.
    iban = forms.CharField(
        label=_("IBAN"),
        required=False,
        max_length=50,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": "SE45 5000 0000 0583 9825 7466",
            }
        ),
    )
    bic = forms.CharField(
        label=_("BIC (optional)"),
        required=False,
        max_length=11,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    stripe_account = forms.CharField(
        label=_("Stripe connected account id"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "acct_…"}),
    )
