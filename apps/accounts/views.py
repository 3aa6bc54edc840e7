"""Sign-up, log-in, log-out and profile pages, over the same services as the API."""

from allauth.account.views import LoginView as AllauthLoginView
from allauth.account.views import PasswordResetView as AllauthPasswordResetView
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts import selectors, services
from apps.accounts.forms import AvatarForm, LoginForm, PasswordChangeForm, SignupForm
from apps.core import ratelimit
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.posts.selectors import feed_user
from apps.social import services as social_services


def signup(request):
    """Sign up through the same service as the API, then allauth's sign-up flow: the address
    is recorded unconfirmed, a confirmation link is emailed, and the person is logged in."""
    from allauth.account import app_settings as allauth_settings
    from allauth.account.utils import complete_signup, setup_user_email

    form = SignupForm(request.POST or None)
    if request.method == "POST":
        try:
            ratelimit.limit_take("signup_address", key=ratelimit.client_address(request))
        except ApplicationError as e:
            form.add_error(None, e.message)
            response = render(request, "accounts/signup.html", {"form": form}, status=429)
            response["Retry-After"] = str(e.retry_after)
            return response
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(**form.cleaned_data)
        except ApplicationError as e:
            for field, messages in (e.fields or {}).items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            setup_user_email(request, user, [])
            return complete_signup(
                request,
                user,
                allauth_settings.EMAIL_VERIFICATION,
                reverse("posts:feed"),
            )
    return render(request, "accounts/signup.html", {"form": form})


@login_required
def password_change(request):
    """Change the password; this session stays logged in, every other one (and every open
    socket) ends."""
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ApplicationError as e:
            for field, errors in (e.fields or {}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, "Your password has changed; your other sessions have ended.")
            return redirect("accounts:password")
    return render(request, "accounts/password.html", {"form": form})


class LoginView(AllauthLoginView):
    """/login: allauth's log-in (two-factor stage, sessions list, cancelling a pending deletion)
    on Vivid's page. Past the log-in limits: the same page, as 429 with Retry-After."""

    template_name = "accounts/login.html"
    form_class = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        """As Django's, through the service that also closes this session's sockets."""
        services.session_logout(request=request)
        return redirect(self.get_success_url())


class PasswordResetView(AllauthPasswordResetView):
    """allauth's "forgot my password" page, with Vivid's per-address limit on the emails it
    sends (``password_reset_address``): past it, the page again as 429 with Retry-After. The
    answer is the same for known and unknown addresses (allauth emails the address either
    way, saying no account uses it when none does)."""

    def post(self, request, *args, **kwargs):
        try:
            ratelimit.limit_take("password_reset_address", key=ratelimit.client_address(request))
        except ApplicationError as e:
            form = self.get_form()
            form.is_valid()
            form.add_error(None, e.message)
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(e.retry_after)
            return response
        return super().post(request, *args, **kwargs)


password_reset = PasswordResetView.as_view()
logout = LogoutView.as_view()


def profile(request, username: str):
    try:
        user = selectors.profile_get(username=username, viewer=request.user)
    except ApplicationError:
        return render(request, "errors/404.html", status=404)
    page = feed_user(author=user, viewer=request.user, params=PageParams(limit=30))
    return render(request, "accounts/profile.html", {"profile": user, "page": page})


@login_required
@require_POST
def follow_toggle(request, username: str):
    """The follow button: follows or unfollows, and answers with the button for htmx to swap."""
    try:
        followee = selectors.user_get_by_username(username=username)
        if request.POST.get("action") == "unfollow":
            social_services.follow_delete(follower=request.user, followee=followee)
        else:
            try:
                social_services.follow_create(follower=request.user, followee=followee)
            except ApplicationError as e:
                if e.code == "not_found":  # a block between them: as if no such account
                    raise
        profile = selectors.profile_get(username=username, viewer=request.user)
    except ApplicationError:
        return render(request, "errors/404.html", status=404)
    if request.htmx:
        return render(request, "accounts/partials/follow_button.html", {"profile": profile})
    return redirect("accounts:profile", username=profile.username)


@login_required
@require_POST
def avatar_upload(request):
    """The profile picture form on one's own profile: upload a new picture, or remove it."""
    if request.POST.get("action") == "remove":
        services.user_avatar_remove(user=request.user)
        return redirect("accounts:profile", username=request.user.username)
    form = AvatarForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a picture to upload.")
    else:
        upload = form.cleaned_data["file"]
        try:
            if upload.size > services.AVATAR_MAX_BYTES:
                raise ApplicationError("payload_too_large", "The picture is larger than 5 MiB.")
            from apps.media.uploads import Uploader

            services.user_avatar_set(
                user=request.user, data=upload.read(), uploader=Uploader.of(request)
            )
        except ApplicationError as e:
            messages.error(request, e.message)
        else:
            messages.success(request, "Your profile picture is updated.")
    return redirect("accounts:profile", username=request.user.username)
