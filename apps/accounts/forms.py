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
