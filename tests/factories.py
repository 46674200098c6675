from __future__ import annotations

import factory
from django.contrib.auth.models import Group

from mobileca.accounts.models import Enterprise, User
from mobileca.core.validators import make_uscc, org_code_check_char

PASSWORD = "test-pass-123"


def uscc_for(n: int) -> str:
    prefix = f"91360200MA{n:06d}"
    return make_uscc(prefix + org_code_check_char(prefix[8:]))


class EnterpriseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enterprise

    name = factory.Sequence(lambda n: f"测试企业{n}有限公司")
    uscc = factory.Sequence(uscc_for)
    legal_representative = "张三"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    enterprise = factory.SubFactory(EnterpriseFactory)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance: User, create: bool, results: object = None) -> None:
        if create:
            instance.save()


class FinanceFactory(UserFactory):
    enterprise = None
    is_staff = True

    @factory.post_generation
    def finance_group(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.groups.add(Group.objects.get(name="财务"))


class OperatorWithoutFinanceFactory(UserFactory):
    """A back-office operator who is not in finance (e.g. customer support)."""

    enterprise = None
    is_staff = True
