from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


@login_required
def workbench(request: HttpRequest) -> HttpResponse:
    """「工作台」: the bidder's home. Operators go to the back office."""
    if request.user.is_staff and getattr(request.user, "enterprise_id", None) is None:
        return redirect("backoffice:home")
    return render(request, "accounts/workbench.html")
