from django import forms


class SignupForm(forms.Form):
    username = forms.CharField(max_length=30)
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=256, widget=forms.PasswordInput)


class AvatarForm(forms.Form):
    # The file is checked by media's untrusted-upload entry point, not by the form.
    file = forms.FileField(
        label="Profile picture",
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}
        ),
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label="Current password", max_length=256, strip=False, widget=forms.PasswordInput
    )
    new_password = forms.CharField(
        label="New password", max_length=256, strip=False, widget=forms.PasswordInput
    )
    new_password_again = forms.CharField(
        label="New password, again", max_length=256, strip=False, widget=forms.PasswordInput
    )

    def clean(self):
        data = super().clean()
        if data.get("new_password") != data.get("new_password_again"):
            self.add_error("new_password_again", "The two new passwords differ.")
        return data
