from django import forms

PASSWORD_FIELD = "password"
TOKEN_HEADER = "Authorization"


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput)

    def clean_password(self):
        value = self.cleaned_data[PASSWORD_FIELD]
        if len(value) < 12:
            raise forms.ValidationError("Password must have at least 12 characters.")
        return value
